// internal.hpp: the shim's private types. Everything the step loop touches lives in flat vectors
// of plain structs that are filled while building and only read or updated in place while stepping.

#ifndef METASIM_PHYSICS_INTERNAL_HPP
#define METASIM_PHYSICS_INTERNAL_HPP

#include "metasim_physics.h"

#include <box2d/box2d.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace msp {

inline bool finite(float v) { return std::isfinite(v); }
inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
inline float signf(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }

// xoshiro128+ seeded through SplitMix64: tiny, fast, and identical on every platform, so the
// thruster dispersion of an episode depends only on its seed.
struct Rng {
    uint32_t s[4];

    void seed(uint64_t seed) {
        for (int i = 0; i < 2; ++i) {
            seed += 0x9E3779B97F4A7C15ull;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            s[2 * i] = static_cast<uint32_t>(z);
            s[2 * i + 1] = static_cast<uint32_t>(z >> 32);
        }
        if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;  // the one state xoshiro cannot leave
    }

    uint32_t next() {
        const uint32_t result = s[0] + s[3];
        const uint32_t t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = (s[3] << 11) | (s[3] >> 21);
        return result;
    }

    // Uniform in [-1, 1) from the top 24 bits (the low bits of xoshiro128+ are weak); every
    // operation is exact in float, so the value is the same everywhere.
    float uniform() { return static_cast<float>(next() >> 8) * (2.0f / 16777216.0f) - 1.0f; }
};

struct Joint {
    b2Joint *joint;
    int32_t type;  // MSP_JOINT_*
};

struct Lidar {
    b2Body *body;
    b2Vec2 origin;       // body frame
    int32_t first_ray;   // index into msp_world::ray_dirs
    int32_t ray_count;
    float range;
    uint16_t mask;
    bool body_frame;
};

struct ContactSensor {
    int32_t next;        // next sensor on the same body, -1 at the end
    int32_t count;       // touching contacts right now
    uint16_t mask;
    bool latched;        // a contact began during the current step
    bool last_event;     // reports `flag` instead (msp_contact_sensor_use_last_event)
    bool flag;           // set by a contact's begin, cleared by any contact's end
};

enum { kWheelCount = 4 };

// b2Vec2's default constructor leaves it uninitialised, hence the explicit zeros: `Actuator{}`
// then defines every field, including those its kind does not use.
struct Actuator {
    int32_t type;        // MSP_ACT_*
    int32_t slot;        // first command slot
    b2Body *body;
    b2Joint *joint;
    int32_t joint_type;
    float max_speed, max_effort;
    float effort;        // the state value written for this actuator

    // Force.
    b2Vec2 point = b2Vec2_zero, direction = b2Vec2_zero;
    bool world_frame;

    // Thruster.
    float power;
    b2Vec2 nozzle = b2Vec2_zero, mount = b2Vec2_zero, dispersion = b2Vec2_zero;
    float deadzone, throttle_min, throttle_max;
    int32_t throttle_curve;
    bool bidirectional;

    // Vehicle: wheels 0, 1 front (left, right), 2, 3 rear; omega and steer are the wheel state.
    b2Vec2 wheel[kWheelCount] = {b2Vec2_zero, b2Vec2_zero, b2Vec2_zero, b2Vec2_zero};
    bool driven[kWheelCount];
    float omega[kWheelCount];
    float steer;
    float wheel_radius, wheel_inertia, engine_power, brake_strength;
    float max_steer, steer_rate, tyre_stiffness, grip_limit;
    float steer_offset;  // rad the front wheels sit at when steer is 0 (a steering fault)
    float steer_sign;    // 1, or -1 for reversed steering
};

class ContactListener final : public b2ContactListener {
public:
    explicit ContactListener(msp_world *world) : world_(world) {}
    void BeginContact(b2Contact *contact) override;
    void EndContact(b2Contact *contact) override;

private:
    msp_world *world_;
};

struct Config {
    float dt;
    int32_t velocity_iterations, position_iterations, substeps;
};

// Geometry (geometry.cpp). Both return MSP_OK or MSP_ERR_BAD_GEOMETRY and never reach a Box2D
// assertion: the library is built with assertions on, and bad input must not abort the process.
int32_t make_polygon(const float *points, int32_t count, b2PolygonShape *out);
int32_t check_chain(const float *points, int32_t count, bool loop);

// Actuators (actuators.cpp, vehicle.cpp).
void apply_step_actuators(msp_world *w);
void apply_substep_actuators(msp_world *w);
void vehicle_substep(Actuator &a, const float *cmd, float dt);

// Sensors (sensors.cpp).
void cast_lidars(const msp_world *w, float *out);

}  // namespace msp

struct msp_world {
    // The b2World lives inside this struct and is rebuilt in place by every msp_world_clear: the
    // ~100 KB object (mostly its stack allocator) is never re-malloced, and a fresh world per
    // episode makes results independent of history.
    alignas(b2World) unsigned char world_storage[sizeof(b2World)];
    b2World *b2w = nullptr;

    msp::Config config{};
    msp::Rng rng{};
    bool locked = false;  // set by the first step of an episode

    std::vector<b2Body *> bodies;
    std::vector<int32_t> tracked;           // indices of tracked bodies, in order
    std::vector<int32_t> body_first_sensor; // head of each body's contact sensor list, -1 if none
    std::vector<msp::Joint> joints;
    std::vector<msp::Actuator> actuators;
    std::vector<int32_t> substep_actuators; // actuators that act at every substep
    std::vector<float> commands;            // this step's commands, NaN-free
    std::vector<msp::Lidar> lidars;
    std::vector<b2Vec2> ray_dirs;           // unit direction of every lidar ray
    std::vector<msp::ContactSensor> contact_sensors;
    std::vector<b2Vec2> scratch;            // chain vertices while building

    // The most contacts alive at once after a step, over every episode of this world: what
    // msp_world_ready reserves. `reserved` holds the blocks while it does so.
    int32_t peak_contacts = 0;
    std::vector<void *> reserved;

    int64_t box2d_bytes = 0;                // estimate of Box2D's heap objects (msp_world_footprint)
    msp::ContactListener listener{this};
};

namespace msp {

// Common preamble of every building call: a world, and no step taken yet in this episode.
inline int32_t check_building(const msp_world *w) {
    if (w == nullptr) return MSP_ERR_BAD_ARGUMENT;
    return w->locked ? MSP_ERR_LOCKED : MSP_OK;
}

}  // namespace msp

#endif
