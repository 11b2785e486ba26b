// metasim_physics.h: the pure-C face of metasim's Box2D 2.4 shim.
//
// Swift sees only this header: opaque handles, plain structs and flat float arrays. A world is
// built once per episode (bodies, fixtures, joints, actuators, sensors: per-object calls are fine
// there) and then stepped with ONE call per environment step, which applies the actuator
// commands, advances Box2D `substeps` times and writes the whole state vector into a buffer the
// caller owns. Nothing crosses the boundary per body inside the step loop.
//
// Units are Box2D's (metres, kilograms, seconds, radians). Indices returned by the *_add calls
// are dense and start at 0 for each kind (bodies, joints, actuators, lidars, contact sensors).
// Calls that can fail return a negative MSP_ERR_* code and leave the world unchanged.

#ifndef METASIM_PHYSICS_H
#define METASIM_PHYSICS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct msp_world msp_world;

enum {
    MSP_OK = 0,
    MSP_ERR_BAD_INDEX = -1,       // a body, joint or fixture index that does not exist
    MSP_ERR_BAD_GEOMETRY = -2,    // degenerate polygon, too many vertices, zero-length edge...
    MSP_ERR_BAD_ARGUMENT = -3,    // any other invalid value (negative radius, unknown kind...)
    MSP_ERR_LOCKED = -4,          // building after the first step of an episode
};

// ---------------------------------------------------------------------------------------------
// World lifetime
// ---------------------------------------------------------------------------------------------

typedef struct {
    float gravity_x, gravity_y;
    float dt;                         // seconds per Box2D step (one env step = substeps * dt)
    int32_t velocity_iterations;
    int32_t position_iterations;
    int32_t substeps;                 // Box2D steps per environment step (>= 1)
    int32_t allow_sleep;              // b2World::SetAllowSleeping
} msp_world_config;

msp_world *msp_world_create(void);
void msp_world_destroy(msp_world *world);

// Starts a new episode: destroys every body, joint, actuator and sensor and builds a fresh
// b2World in place (the same memory, so no allocation churn), so that an episode never depends on
// the ones before it. `noise_seed` seeds the world's own generator (thruster dispersion).
void msp_world_clear(msp_world *world, const msp_world_config *config, uint64_t noise_seed);

// ---------------------------------------------------------------------------------------------
// Building (between msp_world_clear and the first step)
// ---------------------------------------------------------------------------------------------

enum { MSP_BODY_STATIC = 0, MSP_BODY_KINEMATIC = 1, MSP_BODY_DYNAMIC = 2 };

typedef struct {
    int32_t type;                     // MSP_BODY_*
    float x, y, angle;
    float vx, vy, angular_velocity;
    float linear_damping, angular_damping, gravity_scale;
    int32_t fixed_rotation, bullet, allow_sleep, awake;
    int32_t tracked;                  // 1: the body's 7 state values are written by every step
} msp_body_def;

// Returns the body index (>= 0) or an MSP_ERR_* code.
int32_t msp_body_add(msp_world *world, const msp_body_def *def);

enum {
    MSP_SHAPE_CIRCLE = 0,             // points[0..1] = local centre, radius
    MSP_SHAPE_POLYGON = 1,            // 3..8 local points, convex, any winding (Box2D computes the hull)
    MSP_SHAPE_EDGE = 2,               // exactly 2 local points (two-sided edge)
    MSP_SHAPE_CHAIN = 3,              // >= 2 local points, open chain
    MSP_SHAPE_LOOP = 4,               // >= 3 local points, closed chain
};

typedef struct {
    int32_t shape;                    // MSP_SHAPE_*
    const float *points;              // x0, y0, x1, y1, ... in the body frame
    int32_t point_count;              // number of points (not floats)
    float radius;
    float density, friction, restitution;
    uint16_t category_bits, mask_bits;
    int16_t group_index;
    int32_t is_sensor;
} msp_fixture_def;

// Returns MSP_OK or an MSP_ERR_* code.
int32_t msp_fixture_add(msp_world *world, int32_t body, const msp_fixture_def *def);

enum {
    MSP_JOINT_REVOLUTE = 0,
    MSP_JOINT_PRISMATIC = 1,
    MSP_JOINT_WHEEL = 2,
    MSP_JOINT_WELD = 3,
    MSP_JOINT_DISTANCE = 4,
};

typedef struct {
    int32_t type;                     // MSP_JOINT_*
    int32_t body_a, body_b;
    float anchor_a_x, anchor_a_y;     // local anchor on body A
    float anchor_b_x, anchor_b_y;     // local anchor on body B
    float axis_x, axis_y;             // prismatic and wheel: local axis in body A (normalised by the shim)
    float reference_angle;            // revolute, prismatic, weld: if use_reference_angle, else bodyB-bodyA at creation
    int32_t use_reference_angle;
    int32_t collide_connected;
    int32_t enable_limit;
    float lower, upper;               // revolute: radians; prismatic, wheel: metres; distance: min/max length
    int32_t enable_motor;
    float motor_speed;                // rad/s (revolute, wheel) or m/s (prismatic)
    float max_motor_torque;           // N*m (revolute, wheel) or N (prismatic: max motor force)
    float length;                     // distance joint rest length (<= 0: current distance)
    float frequency_hz, damping_ratio;// wheel, distance, weld springs: if frequency_hz > 0 the shim
                                      // derives stiffness/damping with b2LinearStiffness/b2AngularStiffness
    float stiffness, damping;         // used as given when frequency_hz <= 0
} msp_joint_def;

// Returns the joint index (>= 0) or an MSP_ERR_* code. Every joint writes 2 state values.
int32_t msp_joint_add(msp_world *world, const msp_joint_def *def);

// Actuators turn commands (floats) into forces. Each kind reads a fixed number of command slots,
// in the order the actuators were added, from the `commands` array given to msp_world_step.
enum {
    // 1 slot a in [-1, 1] (clipped). BipedalWalker style: motor speed = sign(a) * max_speed,
    // max motor torque (force for prismatic) = |a| * max_effort.
    MSP_ACT_MOTOR_TORQUE = 0,
    // 1 slot a in [-1, 1] (clipped): motor speed = a * max_speed, max motor torque = max_effort.
    MSP_ACT_MOTOR_VELOCITY = 1,
    // 1 slot a in [-1, 1] (clipped): force a * max_effort along `direction` at `point` of `body`
    // (both in the body frame unless world_frame), applied at every substep.
    MSP_ACT_FORCE = 2,
    // 1 slot (see the thruster fields below): LunarLander-style engine impulse.
    MSP_ACT_THRUSTER = 3,
    // 3 slots: steer in [-1, 1], throttle in [0, 1], brake in [0, 1]. Top-down car in the manner
    // of Gymnasium's car_dynamics.py (wheel spin state, slip forces limited by tyre friction).
    MSP_ACT_VEHICLE = 4,
    // 2 slots in [-1, 1] (clipped): body linear velocity = (a0, a1) * max_speed, world frame,
    // set before every substep (a point robot with direct planar velocity control).
    MSP_ACT_PLANAR_VELOCITY = 5,
    // 3 slots: force x, force y (world frame, at the centre of mass) and torque, applied as given
    // at every substep. Used for disturbances the world computes (wind), not for policy actions.
    MSP_ACT_EXTERNAL = 6,
};

enum { MSP_THROTTLE_AFFINE = 0, MSP_THROTTLE_CLIP = 1 };

typedef struct {
    int32_t type;                     // MSP_ACT_*
    int32_t body;                     // force, thruster, vehicle, planar velocity, external
    int32_t joint;                    // motors
    float max_speed;                  // motors (rad/s or m/s), planar velocity (m/s)
    float max_effort;                 // motors (N*m or N), force (N)
    float point_x, point_y;           // force: application point
    float direction_x, direction_y;   // force: unit direction
    int32_t world_frame;              // force: point and direction are in the world frame

    // Thruster (impulse once per environment step, before the first substep). With command a:
    //   deadzone: the engine fires only if a > deadzone (or |a| > deadzone when bidirectional);
    //   throttle: AFFINE: throttle_min + (throttle_max - throttle_min) * clip(a', 0, 1)
    //             CLIP:   clip(a', throttle_min, throttle_max)           (a' = a, or |a| if bidirectional)
    //   nozzle:   local offset n = (nozzle_x * s, nozzle_y) + (ux * dispersion_x, uy * dispersion_y),
    //             s = sign(a) if bidirectional else 1, ux, uy uniform in [-1, 1] from the world's
    //             generator (drawn every step, fired or not, as Gymnasium does);
    //   impulse:  -R(angle) * n * power * throttle, applied at position + R(angle) * (n + mount).
    // Its output (state) value is the throttle used this step (0 when it did not fire).
    float power;
    float nozzle_x, nozzle_y;
    float mount_x, mount_y;
    float dispersion_x, dispersion_y;
    float deadzone;
    float throttle_min, throttle_max;
    int32_t throttle_curve;           // MSP_THROTTLE_*
    int32_t bidirectional;

    // Vehicle (body = the car hull; wheels are points on it, gravity is not used: top-down).
    float wheelbase_front;            // distance from the centre of mass to the front axle (m)
    float wheelbase_rear;             // distance from the centre of mass to the rear axle (m)
    float track_half_width;           // half the distance between left and right wheels (m)
    float wheel_radius;               // m
    float wheel_inertia;              // kg*m^2 per wheel
    float engine_power;               // drive torque scale (car_dynamics.py ENGINE_POWER)
    float brake_strength;             // rad/s of wheel spin removed per second at brake = 1
                                      // (car_dynamics.py: BRAKE_FORCE 15 per 1/50 s step = 750)
    float max_steer;                  // rad at |steer| = 1
    float steer_rate;                 // rad/s the front wheels turn toward the target
    float tyre_stiffness;             // N per m/s of slip (car_dynamics.py 205000*SIZE^2)
    float friction_limit;             // N per wheel at friction 1 (car_dynamics.py FRICTION_LIMIT)
    float friction;                   // road/tyre friction coefficient (asphalt 1, wet ~0.6, ice ~0.1)
    int32_t drive_wheels;             // 0 rear, 1 front, 2 all
    float steer_offset;               // rad added to the steering target (a fault: the wheels sit
                                      // at this angle when steer is 0); |offset| <= max_steer
    float steer_sign;                 // 1, or -1: reversed steering (steer 1 turns right); 0 reads as 1
} msp_actuator_def;

// Returns the actuator index (>= 0) or an MSP_ERR_* code. Every actuator writes 1 state value
// (its effort: thruster throttle, |a| for motors and forces, throttle for vehicles, speed for
// planar velocity, 0 for external).
int32_t msp_actuator_add(msp_world *world, const msp_actuator_def *def);

// Number of command slots of all actuators added so far.
int32_t msp_command_count(const msp_world *world);

typedef struct {
    int32_t body;
    float origin_x, origin_y;         // ray origin, body frame
    int32_t body_frame;               // 1: angles are relative to the body angle; 0: world angles
    const float *angles;              // ray directions (cos a, sin a), radians
    int32_t ray_count;
    float range;                      // metres
    uint16_t mask_bits;               // only fixtures whose category_bits & mask_bits != 0 are seen
} msp_lidar_def;

// Returns the lidar index or an error. Writes ray_count state values: the hit fraction of the
// closest fixture along each ray in [0, 1] (1: nothing within range). Sensor fixtures are seen.
int32_t msp_lidar_add(msp_world *world, const msp_lidar_def *def);

// A contact flag for `body`: 1 if any of its non-sensor fixtures touches a fixture whose
// category_bits & other_mask != 0, or began touching during the step; else 0.
// Returns the contact sensor index or an error. Writes 1 state value.
int32_t msp_contact_sensor_add(msp_world *world, int32_t body, uint16_t other_mask);

// Makes a contact sensor report the last contact event instead: 1 after a matching contact
// began, 0 after one ended, whatever other contacts still touch (Gymnasium's Box2D environments'
// `ground_contact`). Returns MSP_OK or an error.
int32_t msp_contact_sensor_use_last_event(msp_world *world, int32_t sensor);

// One-off force (world frame, at the centre of mass) and torque consumed by the next Box2D step
// (e.g. LunarLander's initial random push). Returns MSP_OK or an error.
int32_t msp_body_apply_force(msp_world *world, int32_t body, float fx, float fy, float torque);

// ---------------------------------------------------------------------------------------------
// Stepping
// ---------------------------------------------------------------------------------------------

// The state vector, in this order:
//   for each tracked body (in the order added): x, y, angle, vx, vy, angular_velocity, awake (0/1)
//   for each joint: value (revolute: angle, prismatic/wheel: translation, others: 0), speed
//   for each lidar: ray_count fractions
//   for each contact sensor: 1 flag
//   for each actuator: 1 effort value
int32_t msp_state_size(const msp_world *world);

// Offsets of each section in the state vector.
typedef struct {
    int32_t bodies, joints, lidars, contacts, actuators, size;
} msp_state_layout;
msp_state_layout msp_state_layout_get(const msp_world *world);

// Ends building an episode (call it after the last body, joint, actuator and sensor): finds the
// contacts of the shapes that overlap from the start, as the first step would, and reserves
// Box2D's block-allocator memory for as many contacts as this world has ever had alive at once
// (at least one 16 KB chunk), so that steps do not allocate. The episode's results are unchanged.
void msp_world_ready(msp_world *world);

// Writes the current state (used after building, for the first observation).
void msp_world_read_state(msp_world *world, float *state);

// One environment step: applies `commands` (msp_command_count floats), advances Box2D
// `substeps` times, writes the state (msp_state_size floats). NaN commands are treated as 0.
void msp_world_step(msp_world *world, const float *commands, float *state);

// The physical limit, for benchmarks: applies `commands` and advances Box2D `substeps` times,
// with no ray casts and no state written.
void msp_world_step_raw(msp_world *world, const float *commands);

// Bytes the world's allocations currently hold (for memory reports); approximate.
int64_t msp_world_footprint(const msp_world *world);

#ifdef __cplusplus
}
#endif

#endif
