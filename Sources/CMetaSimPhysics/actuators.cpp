// actuators.cpp: turning commands into motor settings, impulses, forces and velocities.

#include "internal.hpp"

using namespace msp;

namespace {

int32_t slot_count(int32_t type) {
    switch (type) {
    case MSP_ACT_VEHICLE:
    case MSP_ACT_EXTERNAL: return 3;
    case MSP_ACT_PLANAR_VELOCITY: return 2;
    default: return 1;
    }
}

bool acts_every_substep(int32_t type) {
    return type == MSP_ACT_FORCE || type == MSP_ACT_VEHICLE || type == MSP_ACT_PLANAR_VELOCITY ||
           type == MSP_ACT_EXTERNAL;
}

void set_motor(const Actuator &a, float speed, float effort) {
    switch (a.joint_type) {
    case MSP_JOINT_REVOLUTE: {
        auto *j = static_cast<b2RevoluteJoint *>(a.joint);
        j->SetMotorSpeed(speed);
        j->SetMaxMotorTorque(effort);
        break;
    }
    case MSP_JOINT_PRISMATIC: {
        auto *j = static_cast<b2PrismaticJoint *>(a.joint);
        j->SetMotorSpeed(speed);
        j->SetMaxMotorForce(effort);
        break;
    }
    default: {  // MSP_JOINT_WHEEL: the motor spins body B about the wheel axle
        auto *j = static_cast<b2WheelJoint *>(a.joint);
        j->SetMotorSpeed(speed);
        j->SetMaxMotorTorque(effort);
        break;
    }
    }
}

// The LunarLander engine model documented in the header. Both dispersion draws happen whether or
// not the engine fires, so the generator's sequence does not depend on the policy's actions.
void fire_thruster(msp_world *w, Actuator &a, float command) {
    const float ux = w->rng.uniform();
    const float uy = w->rng.uniform();
    const float u = a.bidirectional ? std::fabs(command) : command;
    if (!(u > a.deadzone)) {
        a.effort = 0.0f;
        return;
    }
    const float throttle = a.throttle_curve == MSP_THROTTLE_AFFINE
                               ? a.throttle_min + (a.throttle_max - a.throttle_min) * clampf(u, 0.0f, 1.0f)
                               : clampf(u, a.throttle_min, a.throttle_max);
    const float side = a.bidirectional ? signf(command) : 1.0f;
    const b2Vec2 n(a.nozzle.x * side + ux * a.dispersion.x, a.nozzle.y + uy * a.dispersion.y);
    const b2Transform &xf = a.body->GetTransform();
    const b2Vec2 impulse = (-a.power * throttle) * b2Mul(xf.q, n);
    a.body->ApplyLinearImpulse(impulse, xf.p + b2Mul(xf.q, n + a.mount), true);
    a.effort = throttle;
}

}  // namespace

namespace msp {

// Once per environment step, before the first substep: motor settings, thruster impulses, and
// the effort values of every actuator.
void apply_step_actuators(msp_world *w) {
    const float *commands = w->commands.data();
    for (Actuator &a : w->actuators) {
        const float *c = commands + a.slot;
        const float x = clampf(c[0], -1.0f, 1.0f);
        switch (a.type) {
        case MSP_ACT_MOTOR_TORQUE:
            set_motor(a, signf(x) * a.max_speed, std::fabs(x) * a.max_effort);
            a.effort = std::fabs(x);
            break;
        case MSP_ACT_MOTOR_VELOCITY:
            set_motor(a, x * a.max_speed, a.max_effort);
            a.effort = std::fabs(x);
            break;
        case MSP_ACT_FORCE:
            a.effort = std::fabs(x);
            break;
        case MSP_ACT_THRUSTER:
            fire_thruster(w, a, x);
            break;
        case MSP_ACT_VEHICLE:
            a.effort = clampf(c[1], 0.0f, 1.0f);
            break;
        case MSP_ACT_PLANAR_VELOCITY:
            a.effort = std::hypot(x, clampf(c[1], -1.0f, 1.0f)) * a.max_speed;
            break;
        default:  // MSP_ACT_EXTERNAL
            a.effort = 0.0f;
            break;
        }
    }
}

// Before every Box2D step: Box2D clears forces after each step, so continuous actuators re-apply.
void apply_substep_actuators(msp_world *w) {
    const float *commands = w->commands.data();
    const float dt = w->config.dt;
    for (const int32_t index : w->substep_actuators) {
        Actuator &a = w->actuators[index];
        const float *c = commands + a.slot;
        switch (a.type) {
        case MSP_ACT_FORCE: {
            const float f = clampf(c[0], -1.0f, 1.0f) * a.max_effort;
            if (f == 0.0f) break;  // nothing to add, and no reason to wake the body
            if (a.world_frame) {
                a.body->ApplyForce(f * a.direction, a.point, true);
            } else {
                const b2Transform &xf = a.body->GetTransform();
                a.body->ApplyForce(f * b2Mul(xf.q, a.direction), b2Mul(xf, a.point), true);
            }
            break;
        }
        case MSP_ACT_VEHICLE:
            vehicle_substep(a, c, dt);
            break;
        case MSP_ACT_PLANAR_VELOCITY:
            a.body->SetLinearVelocity(
                b2Vec2(clampf(c[0], -1.0f, 1.0f) * a.max_speed, clampf(c[1], -1.0f, 1.0f) * a.max_speed));
            break;
        default:  // MSP_ACT_EXTERNAL
            if (c[0] != 0.0f || c[1] != 0.0f) a.body->ApplyForceToCenter(b2Vec2(c[0], c[1]), true);
            if (c[2] != 0.0f) a.body->ApplyTorque(c[2], true);
            break;
        }
    }
}

}  // namespace msp

extern "C" {

int32_t msp_actuator_add(msp_world *world, const msp_actuator_def *def) {
    if (const int32_t rc = check_building(world)) return rc;
    if (def == nullptr) return MSP_ERR_BAD_ARGUMENT;
    if (def->type < MSP_ACT_MOTOR_TORQUE || def->type > MSP_ACT_EXTERNAL) return MSP_ERR_BAD_ARGUMENT;
    const float values[] = {def->max_speed, def->max_effort, def->point_x, def->point_y,
                            def->direction_x, def->direction_y, def->power, def->nozzle_x,
                            def->nozzle_y, def->mount_x, def->mount_y, def->dispersion_x,
                            def->dispersion_y, def->deadzone, def->throttle_min, def->throttle_max,
                            def->wheelbase_front, def->wheelbase_rear, def->track_half_width,
                            def->wheel_radius, def->wheel_inertia, def->engine_power,
                            def->brake_strength, def->max_steer, def->steer_rate,
                            def->tyre_stiffness, def->friction_limit, def->friction,
                            def->steer_offset, def->steer_sign};
    for (const float v : values) {
        if (!finite(v)) return MSP_ERR_BAD_ARGUMENT;
    }
    if (def->max_speed < 0.0f || def->max_effort < 0.0f) return MSP_ERR_BAD_ARGUMENT;

    Actuator a{};
    a.type = def->type;
    a.max_speed = def->max_speed;
    a.max_effort = def->max_effort;
    const bool motor = def->type == MSP_ACT_MOTOR_TORQUE || def->type == MSP_ACT_MOTOR_VELOCITY;
    if (motor) {
        if (def->joint < 0 || def->joint >= static_cast<int32_t>(world->joints.size())) return MSP_ERR_BAD_INDEX;
        const Joint &j = world->joints[def->joint];
        if (j.type != MSP_JOINT_REVOLUTE && j.type != MSP_JOINT_PRISMATIC && j.type != MSP_JOINT_WHEEL) {
            return MSP_ERR_BAD_ARGUMENT;  // weld and distance joints have no motor
        }
        a.joint = j.joint;
        a.joint_type = j.type;
    } else {
        if (def->body < 0 || def->body >= static_cast<int32_t>(world->bodies.size())) return MSP_ERR_BAD_INDEX;
        a.body = world->bodies[def->body];
    }

    switch (def->type) {
    case MSP_ACT_FORCE:
        a.point.Set(def->point_x, def->point_y);
        a.direction.Set(def->direction_x, def->direction_y);
        if (!(a.direction.Normalize() > b2_epsilon)) return MSP_ERR_BAD_ARGUMENT;
        a.world_frame = def->world_frame != 0;
        break;
    case MSP_ACT_THRUSTER:
        if (def->power < 0.0f || def->throttle_min > def->throttle_max) return MSP_ERR_BAD_ARGUMENT;
        if (def->throttle_curve != MSP_THROTTLE_AFFINE && def->throttle_curve != MSP_THROTTLE_CLIP) {
            return MSP_ERR_BAD_ARGUMENT;
        }
        a.power = def->power;
        a.nozzle.Set(def->nozzle_x, def->nozzle_y);
        a.mount.Set(def->mount_x, def->mount_y);
        a.dispersion.Set(def->dispersion_x, def->dispersion_y);
        a.deadzone = def->deadzone;
        a.throttle_min = def->throttle_min;
        a.throttle_max = def->throttle_max;
        a.throttle_curve = def->throttle_curve;
        a.bidirectional = def->bidirectional != 0;
        break;
    case MSP_ACT_VEHICLE: {
        if (!(def->wheel_radius > 0.0f) || !(def->wheel_inertia > 0.0f)) return MSP_ERR_BAD_ARGUMENT;
        if (def->engine_power < 0.0f || def->brake_strength < 0.0f || def->max_steer < 0.0f ||
            def->steer_rate < 0.0f || def->tyre_stiffness < 0.0f || def->friction_limit < 0.0f ||
            def->friction < 0.0f || std::fabs(def->steer_offset) > def->max_steer ||
            (def->steer_sign != 0.0f && def->steer_sign != 1.0f && def->steer_sign != -1.0f)) {
            return MSP_ERR_BAD_ARGUMENT;
        }
        if (def->drive_wheels < 0 || def->drive_wheels > 2) return MSP_ERR_BAD_ARGUMENT;
        const float w = def->track_half_width;
        a.wheel[0].Set(-w, def->wheelbase_front);
        a.wheel[1].Set(w, def->wheelbase_front);
        a.wheel[2].Set(-w, -def->wheelbase_rear);
        a.wheel[3].Set(w, -def->wheelbase_rear);
        for (int i = 0; i < kWheelCount; ++i) {
            const bool front = i < 2;
            a.driven[i] = def->drive_wheels == 2 || (def->drive_wheels == 1) == front;
            a.omega[i] = 0.0f;
        }
        a.steer = def->steer_offset;  // the wheels start where a faulty steering holds them
        a.wheel_radius = def->wheel_radius;
        a.wheel_inertia = def->wheel_inertia;
        a.engine_power = def->engine_power;
        a.brake_strength = def->brake_strength;
        a.max_steer = def->max_steer;
        a.steer_rate = def->steer_rate;
        a.tyre_stiffness = def->tyre_stiffness;
        a.grip_limit = def->friction_limit * def->friction;
        a.steer_offset = def->steer_offset;
        a.steer_sign = def->steer_sign == -1.0f ? -1.0f : 1.0f;  // 0 (a zeroed definition): not reversed
        break;
    }
    default:
        break;
    }

    // Commit: nothing above has changed the world.
    if (motor) {
        switch (a.joint_type) {
        case MSP_JOINT_REVOLUTE: static_cast<b2RevoluteJoint *>(a.joint)->EnableMotor(true); break;
        case MSP_JOINT_PRISMATIC: static_cast<b2PrismaticJoint *>(a.joint)->EnableMotor(true); break;
        default: static_cast<b2WheelJoint *>(a.joint)->EnableMotor(true); break;
        }
    }
    a.slot = static_cast<int32_t>(world->commands.size());
    world->commands.resize(world->commands.size() + static_cast<size_t>(slot_count(def->type)), 0.0f);
    const int32_t index = static_cast<int32_t>(world->actuators.size());
    if (acts_every_substep(def->type)) world->substep_actuators.push_back(index);
    world->actuators.push_back(a);
    return index;
}

}  // extern "C"
