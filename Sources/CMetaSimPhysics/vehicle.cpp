// vehicle.cpp: a top-down car after Gymnasium's car_dynamics.py. The car is a single rigid body
// (the hull, forward = local +y); the four wheels are points on it whose spin is actuator state.
// Tyre forces come from the slip between wheel and ground, capped by the grip limit, and are
// applied to the hull at the wheel points. Unlike car_dynamics.py, wheels are not separate
// bodies: a steered front wheel only turns its force directions.

#include "internal.hpp"

namespace msp {

void vehicle_substep(Actuator &a, const float *cmd, float dt) {
    const float steer = clampf(cmd[0], -1.0f, 1.0f) * a.steer_sign;  // * 1 changes no bit
    const float throttle = clampf(cmd[1], 0.0f, 1.0f);
    const float brake = clampf(cmd[2], 0.0f, 1.0f);

    // The front wheels turn toward the target at a bounded rate (positive = to the left, the
    // Box2D counter-clockwise convention). The target is steer * max_steer plus the steering
    // fault's offset, added last so that an offset of 0 leaves every value bit for bit as it was.
    const float max_turn = a.steer_rate * dt;
    a.steer += clampf(steer * a.max_steer - a.steer + a.steer_offset, -max_turn, max_turn);
    const float sin_s = std::sin(a.steer);
    const float cos_s = std::cos(a.steer);

    b2Body *body = a.body;
    const b2Transform &xf = body->GetTransform();
    for (int i = 0; i < kWheelCount; ++i) {
        float omega = a.omega[i];

        // Engine: constant power, so the torque falls as the wheel spins up (+5 avoids a
        // division by zero at standstill, as in car_dynamics.py).
        if (a.driven[i]) omega += dt * a.engine_power * throttle / a.wheel_inertia / (std::fabs(omega) + 5.0f);

        // Brake: a full brake locks the wheel, a partial one removes spin at a fixed rate
        // without reversing it.
        if (brake >= 0.9f) {
            omega = 0.0f;
        } else if (brake > 0.0f) {
            const float val = std::fmin(a.brake_strength * brake * dt, std::fabs(omega));
            omega -= signf(omega) * val;
        }

        // Wheel axes in the body frame: forward (0, 1) and side (1, 0), turned by the steering
        // angle for the front wheels.
        const bool front = i < 2;
        const b2Vec2 forward_local = front ? b2Vec2(-sin_s, cos_s) : b2Vec2(0.0f, 1.0f);
        const b2Vec2 side_local = front ? b2Vec2(cos_s, sin_s) : b2Vec2(1.0f, 0.0f);
        const b2Vec2 forward = b2Mul(xf.q, forward_local);
        const b2Vec2 side = b2Mul(xf.q, side_local);
        const b2Vec2 v = body->GetLinearVelocityFromLocalPoint(a.wheel[i]);
        const float vf = b2Dot(v, forward);
        const float vs = b2Dot(v, side);

        // Slip forces, limited by tyre grip; their reaction slows or spins up the wheel.
        float f_force = (omega * a.wheel_radius - vf) * a.tyre_stiffness;
        float p_force = -vs * a.tyre_stiffness;
        const float force = std::hypot(f_force, p_force);
        if (force > a.grip_limit) {
            const float scale = a.grip_limit / force;
            f_force *= scale;
            p_force *= scale;
        }
        omega -= dt * f_force * a.wheel_radius / a.wheel_inertia;
        a.omega[i] = omega;

        if (f_force != 0.0f || p_force != 0.0f) {
            body->ApplyForce(f_force * forward + p_force * side, b2Mul(xf, a.wheel[i]), true);
        }
    }
}

}  // namespace msp
