// build.cpp: bodies, fixtures, joints and sensors. Every call validates all of its input before
// touching Box2D, so a failing call leaves the world unchanged (and never trips an assertion).

#include "internal.hpp"

#include <cfloat>

using namespace msp;

namespace {

bool all_finite(const float *v, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        if (!finite(v[i])) return false;
    }
    return true;
}

bool valid_body(const msp_world *w, int32_t body) {
    return body >= 0 && body < static_cast<int32_t>(w->bodies.size());
}

// b2Body::ResetMassData asserts that the inertia about the centre of mass stays positive after
// the parallel-axis shift, which float cancellation breaks for a small, dense fixture far from the
// body origin. Replay that computation with the new fixture first (CreateFixture prepends it) and
// demand a clear margin: the centred inertia must keep 1e-5 of the total, far above float
// round-off.
bool inertia_stays_positive(const b2Body *body, const b2Shape &shape, float density) {
    if (body->GetType() != b2_dynamicBody || body->IsFixedRotation() || density == 0.0f) return true;
    b2MassData md;
    shape.ComputeMass(&md, density);
    float mass = md.mass;
    b2Vec2 center = md.mass * md.center;
    float inertia = md.I;
    for (const b2Fixture *f = body->GetFixtureList(); f != nullptr; f = f->GetNext()) {
        if (f->GetDensity() == 0.0f) continue;
        f->GetMassData(&md);
        mass += md.mass;
        center += md.mass * md.center;
        inertia += md.I;
    }
    if (!(inertia > 0.0f)) return true;  // Box2D then treats the body as non-rotating
    if (inertia < 1e-30f) return false;  // so small that float round-off decides its sign
    if (mass > 0.0f) center *= 1.0f / mass;
    const float centred = inertia - mass * b2Dot(center, center);
    return centred > 1e-5f * inertia;
}

int64_t shape_bytes(const b2Shape &shape) {
    switch (shape.GetType()) {
    case b2Shape::e_circle: return sizeof(b2CircleShape);
    case b2Shape::e_edge: return sizeof(b2EdgeShape);
    case b2Shape::e_polygon: return sizeof(b2PolygonShape);
    default: {
        const auto &chain = static_cast<const b2ChainShape &>(shape);
        return static_cast<int64_t>(sizeof(b2ChainShape) + chain.m_count * sizeof(b2Vec2));
    }
    }
}

}  // namespace

extern "C" {

int32_t msp_body_add(msp_world *world, const msp_body_def *def) {
    if (const int32_t rc = check_building(world)) return rc;
    if (def == nullptr) return MSP_ERR_BAD_ARGUMENT;
    if (def->type < MSP_BODY_STATIC || def->type > MSP_BODY_DYNAMIC) return MSP_ERR_BAD_ARGUMENT;
    const float values[] = {def->x, def->y, def->angle, def->vx, def->vy, def->angular_velocity,
                            def->linear_damping, def->angular_damping, def->gravity_scale};
    if (!all_finite(values, 9)) return MSP_ERR_BAD_ARGUMENT;
    if (def->linear_damping < 0.0f || def->angular_damping < 0.0f) return MSP_ERR_BAD_ARGUMENT;

    const int32_t index = static_cast<int32_t>(world->bodies.size());
    b2BodyDef bd;
    bd.type = def->type == MSP_BODY_STATIC      ? b2_staticBody
              : def->type == MSP_BODY_KINEMATIC ? b2_kinematicBody
                                                : b2_dynamicBody;
    bd.position.Set(def->x, def->y);
    bd.angle = def->angle;
    bd.linearVelocity.Set(def->vx, def->vy);
    bd.angularVelocity = def->angular_velocity;
    bd.linearDamping = def->linear_damping;
    bd.angularDamping = def->angular_damping;
    bd.gravityScale = def->gravity_scale;
    bd.fixedRotation = def->fixed_rotation != 0;
    bd.bullet = def->bullet != 0;
    bd.allowSleep = def->allow_sleep != 0;
    bd.awake = def->awake != 0;
    bd.userData.pointer = static_cast<uintptr_t>(index);  // the contact listener maps back with it

    world->bodies.push_back(world->b2w->CreateBody(&bd));
    world->body_first_sensor.push_back(-1);
    if (def->tracked) world->tracked.push_back(index);
    world->box2d_bytes += sizeof(b2Body);
    return index;
}

int32_t msp_fixture_add(msp_world *world, int32_t body, const msp_fixture_def *def) {
    if (const int32_t rc = check_building(world)) return rc;
    if (def == nullptr) return MSP_ERR_BAD_ARGUMENT;
    if (!valid_body(world, body)) return MSP_ERR_BAD_INDEX;
    const float values[] = {def->radius, def->density, def->friction, def->restitution};
    if (!all_finite(values, 4)) return MSP_ERR_BAD_ARGUMENT;
    if (def->radius < 0.0f || def->density < 0.0f || def->friction < 0.0f || def->restitution < 0.0f) {
        return MSP_ERR_BAD_ARGUMENT;
    }
    if (def->point_count < 0 || (def->point_count > 0 && def->points == nullptr)) return MSP_ERR_BAD_ARGUMENT;
    if (!all_finite(def->points, 2 * def->point_count)) return MSP_ERR_BAD_ARGUMENT;

    const float *p = def->points;
    const int32_t n = def->point_count;
    b2CircleShape circle;
    b2PolygonShape polygon;
    b2EdgeShape edge;
    b2ChainShape chain;
    const b2Shape *shape = nullptr;
    switch (def->shape) {
    case MSP_SHAPE_CIRCLE:
        // The centre is optional (the body origin when no point is given).
        if (n > 1 || !(def->radius > 0.0f)) return MSP_ERR_BAD_GEOMETRY;
        circle.m_radius = def->radius;
        if (n == 1) circle.m_p.Set(p[0], p[1]);
        shape = &circle;
        break;
    case MSP_SHAPE_POLYGON:
        if (const int32_t rc = make_polygon(p, n, &polygon)) return rc;
        shape = &polygon;
        break;
    case MSP_SHAPE_EDGE:
        if (n != 2 || check_chain(p, n, false) != MSP_OK) return MSP_ERR_BAD_GEOMETRY;
        edge.SetTwoSided(b2Vec2(p[0], p[1]), b2Vec2(p[2], p[3]));
        shape = &edge;
        break;
    case MSP_SHAPE_CHAIN:
    case MSP_SHAPE_LOOP: {
        const bool loop = def->shape == MSP_SHAPE_LOOP;
        if (const int32_t rc = check_chain(p, n, loop)) return rc;
        world->scratch.resize(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) world->scratch[i].Set(p[2 * i], p[2 * i + 1]);
        const b2Vec2 *v = world->scratch.data();
        if (loop) {
            chain.CreateLoop(v, n);
        } else {
            // Ghost vertices continue the end segments straight on, so bodies slide smoothly
            // off the ends instead of catching on a corner.
            chain.CreateChain(v, n, 2.0f * v[0] - v[1], 2.0f * v[n - 1] - v[n - 2]);
        }
        shape = &chain;
        break;
    }
    default:
        return MSP_ERR_BAD_ARGUMENT;
    }

    b2Body *b = world->bodies[body];
    if (!inertia_stays_positive(b, *shape, def->density)) return MSP_ERR_BAD_GEOMETRY;

    b2FixtureDef fd;
    fd.shape = shape;
    fd.density = def->density;
    fd.friction = def->friction;
    fd.restitution = def->restitution;
    fd.filter.categoryBits = def->category_bits;
    fd.filter.maskBits = def->mask_bits;
    fd.filter.groupIndex = def->group_index;
    fd.isSensor = def->is_sensor != 0;
    b->CreateFixture(&fd);
    world->box2d_bytes += static_cast<int64_t>(sizeof(b2Fixture) + shape_bytes(*shape) +
                                               shape->GetChildCount() * sizeof(b2FixtureProxy));
    return MSP_OK;
}

int32_t msp_joint_add(msp_world *world, const msp_joint_def *def) {
    if (const int32_t rc = check_building(world)) return rc;
    if (def == nullptr) return MSP_ERR_BAD_ARGUMENT;
    if (!valid_body(world, def->body_a) || !valid_body(world, def->body_b)) return MSP_ERR_BAD_INDEX;
    if (def->body_a == def->body_b) return MSP_ERR_BAD_ARGUMENT;  // b2Joint asserts on this
    const float values[] = {def->anchor_a_x, def->anchor_a_y, def->anchor_b_x, def->anchor_b_y,
                            def->axis_x, def->axis_y, def->reference_angle, def->lower, def->upper,
                            def->motor_speed, def->max_motor_torque, def->length,
                            def->frequency_hz, def->damping_ratio, def->stiffness, def->damping};
    if (!all_finite(values, 16)) return MSP_ERR_BAD_ARGUMENT;
    if (def->max_motor_torque < 0.0f || def->frequency_hz < 0.0f || def->damping_ratio < 0.0f ||
        def->stiffness < 0.0f || def->damping < 0.0f) {
        return MSP_ERR_BAD_ARGUMENT;
    }
    if (def->enable_limit && def->lower > def->upper) return MSP_ERR_BAD_ARGUMENT;

    b2Body *a = world->bodies[def->body_a];
    b2Body *b = world->bodies[def->body_b];
    const b2Vec2 anchor_a(def->anchor_a_x, def->anchor_a_y);
    const b2Vec2 anchor_b(def->anchor_b_x, def->anchor_b_y);
    const float reference = def->use_reference_angle ? def->reference_angle : b->GetAngle() - a->GetAngle();
    b2Vec2 axis(def->axis_x, def->axis_y);
    if (def->type == MSP_JOINT_PRISMATIC || def->type == MSP_JOINT_WHEEL) {
        if (!(axis.Normalize() > b2_epsilon)) return MSP_ERR_BAD_ARGUMENT;
    }
    // Springs: with frequency_hz > 0 stiffness and damping follow from the bodies' current mass,
    // so joints should be added after the fixtures of their bodies.
    float stiffness = def->stiffness;
    float damping = def->damping;

    b2Joint *joint = nullptr;
    int64_t bytes = 0;
    switch (def->type) {
    case MSP_JOINT_REVOLUTE: {
        b2RevoluteJointDef jd;
        jd.bodyA = a;
        jd.bodyB = b;
        jd.localAnchorA = anchor_a;
        jd.localAnchorB = anchor_b;
        jd.referenceAngle = reference;
        jd.collideConnected = def->collide_connected != 0;
        jd.enableLimit = def->enable_limit != 0;
        jd.lowerAngle = def->lower;
        jd.upperAngle = def->upper;
        jd.enableMotor = def->enable_motor != 0;
        jd.motorSpeed = def->motor_speed;
        jd.maxMotorTorque = def->max_motor_torque;
        joint = world->b2w->CreateJoint(&jd);
        bytes = sizeof(b2RevoluteJoint);
        break;
    }
    case MSP_JOINT_PRISMATIC: {
        b2PrismaticJointDef jd;
        jd.bodyA = a;
        jd.bodyB = b;
        jd.localAnchorA = anchor_a;
        jd.localAnchorB = anchor_b;
        jd.localAxisA = axis;
        jd.referenceAngle = reference;
        jd.collideConnected = def->collide_connected != 0;
        jd.enableLimit = def->enable_limit != 0;
        jd.lowerTranslation = def->lower;
        jd.upperTranslation = def->upper;
        jd.enableMotor = def->enable_motor != 0;
        jd.motorSpeed = def->motor_speed;
        jd.maxMotorForce = def->max_motor_torque;
        joint = world->b2w->CreateJoint(&jd);
        bytes = sizeof(b2PrismaticJoint);
        break;
    }
    case MSP_JOINT_WHEEL: {
        b2WheelJointDef jd;
        jd.bodyA = a;
        jd.bodyB = b;
        jd.localAnchorA = anchor_a;
        jd.localAnchorB = anchor_b;
        jd.localAxisA = axis;
        jd.collideConnected = def->collide_connected != 0;
        jd.enableLimit = def->enable_limit != 0;
        jd.lowerTranslation = def->lower;
        jd.upperTranslation = def->upper;
        jd.enableMotor = def->enable_motor != 0;
        jd.motorSpeed = def->motor_speed;
        jd.maxMotorTorque = def->max_motor_torque;
        if (def->frequency_hz > 0.0f) b2LinearStiffness(stiffness, damping, def->frequency_hz, def->damping_ratio, a, b);
        jd.stiffness = stiffness;
        jd.damping = damping;
        joint = world->b2w->CreateJoint(&jd);
        bytes = sizeof(b2WheelJoint);
        break;
    }
    case MSP_JOINT_WELD: {
        b2WeldJointDef jd;
        jd.bodyA = a;
        jd.bodyB = b;
        jd.localAnchorA = anchor_a;
        jd.localAnchorB = anchor_b;
        jd.referenceAngle = reference;
        jd.collideConnected = def->collide_connected != 0;
        if (def->frequency_hz > 0.0f) b2AngularStiffness(stiffness, damping, def->frequency_hz, def->damping_ratio, a, b);
        jd.stiffness = stiffness;
        jd.damping = damping;
        joint = world->b2w->CreateJoint(&jd);
        bytes = sizeof(b2WeldJoint);
        break;
    }
    case MSP_JOINT_DISTANCE: {
        b2DistanceJointDef jd;
        jd.bodyA = a;
        jd.bodyB = b;
        jd.localAnchorA = anchor_a;
        jd.localAnchorB = anchor_b;
        jd.collideConnected = def->collide_connected != 0;
        jd.length = def->length > 0.0f
                        ? def->length
                        : b2Distance(a->GetWorldPoint(anchor_a), b->GetWorldPoint(anchor_b));
        if (def->frequency_hz > 0.0f) b2LinearStiffness(stiffness, damping, def->frequency_hz, def->damping_ratio, a, b);
        jd.stiffness = stiffness;
        jd.damping = damping;
        // Box2D 2.4 only applies the spring between distinct min and max lengths and holds the
        // length rigidly when they are equal. Without a limit: a free spring if there is one,
        // else a rigid rod (the classic distance joint).
        if (def->enable_limit) {
            jd.minLength = def->lower;
            jd.maxLength = def->upper;
        } else if (stiffness > 0.0f) {
            jd.minLength = 0.0f;
            jd.maxLength = FLT_MAX;
        } else {
            jd.minLength = jd.length;
            jd.maxLength = jd.length;
        }
        joint = world->b2w->CreateJoint(&jd);
        bytes = sizeof(b2DistanceJoint);
        break;
    }
    default:
        return MSP_ERR_BAD_ARGUMENT;
    }

    world->joints.push_back(Joint{joint, def->type});
    world->box2d_bytes += bytes;
    return static_cast<int32_t>(world->joints.size()) - 1;
}

int32_t msp_lidar_add(msp_world *world, const msp_lidar_def *def) {
    if (const int32_t rc = check_building(world)) return rc;
    if (def == nullptr) return MSP_ERR_BAD_ARGUMENT;
    if (!valid_body(world, def->body)) return MSP_ERR_BAD_INDEX;
    if (def->ray_count < 1 || def->angles == nullptr) return MSP_ERR_BAD_ARGUMENT;
    // A zero-length ray trips an assertion in b2DynamicTree::RayCast.
    if (!finite(def->range) || !(def->range > 0.0f)) return MSP_ERR_BAD_ARGUMENT;
    if (!finite(def->origin_x) || !finite(def->origin_y)) return MSP_ERR_BAD_ARGUMENT;
    if (!all_finite(def->angles, def->ray_count)) return MSP_ERR_BAD_ARGUMENT;

    Lidar l;
    l.body = world->bodies[def->body];
    l.origin.Set(def->origin_x, def->origin_y);
    l.first_ray = static_cast<int32_t>(world->ray_dirs.size());
    l.ray_count = def->ray_count;
    l.range = def->range;
    l.mask = def->mask_bits;
    l.body_frame = def->body_frame != 0;
    // Directions are stored as unit vectors; body-frame rays are rotated by the body at cast
    // time, which saves a sin/cos per ray per step.
    for (int32_t i = 0; i < def->ray_count; ++i) {
        world->ray_dirs.emplace_back(std::cos(def->angles[i]), std::sin(def->angles[i]));
    }
    world->lidars.push_back(l);
    return static_cast<int32_t>(world->lidars.size()) - 1;
}

int32_t msp_contact_sensor_add(msp_world *world, int32_t body, uint16_t other_mask) {
    if (const int32_t rc = check_building(world)) return rc;
    if (!valid_body(world, body)) return MSP_ERR_BAD_INDEX;
    const int32_t index = static_cast<int32_t>(world->contact_sensors.size());
    world->contact_sensors.push_back(ContactSensor{world->body_first_sensor[body], 0, other_mask, false, false, false});
    world->body_first_sensor[body] = index;
    return index;
}

int32_t msp_contact_sensor_use_last_event(msp_world *world, int32_t sensor) {
    if (const int32_t rc = check_building(world)) return rc;
    if (sensor < 0 || sensor >= static_cast<int32_t>(world->contact_sensors.size())) return MSP_ERR_BAD_INDEX;
    world->contact_sensors[sensor].last_event = true;
    return MSP_OK;
}

// Not a building call: usable at any time, e.g. for a push at the start of an episode.
int32_t msp_body_apply_force(msp_world *world, int32_t body, float fx, float fy, float torque) {
    if (world == nullptr) return MSP_ERR_BAD_ARGUMENT;
    if (!valid_body(world, body)) return MSP_ERR_BAD_INDEX;
    if (!finite(fx) || !finite(fy) || !finite(torque)) return MSP_ERR_BAD_ARGUMENT;
    b2Body *b = world->bodies[body];
    b->ApplyForceToCenter(b2Vec2(fx, fy), true);
    b->ApplyTorque(torque, true);
    return MSP_OK;
}

}  // extern "C"
