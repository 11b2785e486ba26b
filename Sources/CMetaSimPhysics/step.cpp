// step.cpp: the hot loop. No allocation happens here: every buffer was sized while building.

#include "internal.hpp"

using namespace msp;

namespace {

void advance(msp_world *w, const float *commands) {
    w->locked = true;
    for (ContactSensor &s : w->contact_sensors) s.latched = false;

    // Non-finite commands act as 0 (NULL: all 0), so nothing downstream sees a NaN.
    float *c = w->commands.data();
    const size_t n = w->commands.size();
    for (size_t i = 0; i < n; ++i) {
        const float v = commands != nullptr ? commands[i] : 0.0f;
        c[i] = finite(v) ? v : 0.0f;
    }

    apply_step_actuators(w);
    const Config &cfg = w->config;
    for (int32_t k = 0; k < cfg.substeps; ++k) {
        apply_substep_actuators(w);
        w->b2w->Step(cfg.dt, cfg.velocity_iterations, cfg.position_iterations);
        // Box2D creates contacts at the end of its step, after destroying the ones that ended,
        // so the count now is the most this step had alive.
        const int32_t contacts = w->b2w->GetContactCount();
        if (contacts > w->peak_contacts) w->peak_contacts = contacts;
    }
}

void write_state(const msp_world *w, float *out) {
    for (const int32_t index : w->tracked) {
        const b2Body *b = w->bodies[index];
        const b2Vec2 &p = b->GetPosition();
        const b2Vec2 &v = b->GetLinearVelocity();
        out[0] = p.x;
        out[1] = p.y;
        out[2] = b->GetAngle();
        out[3] = v.x;
        out[4] = v.y;
        out[5] = b->GetAngularVelocity();
        out[6] = b->IsAwake() ? 1.0f : 0.0f;
        out += 7;
    }
    for (const Joint &j : w->joints) {
        switch (j.type) {
        case MSP_JOINT_REVOLUTE: {
            const auto *r = static_cast<const b2RevoluteJoint *>(j.joint);
            out[0] = r->GetJointAngle();
            out[1] = r->GetJointSpeed();
            break;
        }
        case MSP_JOINT_PRISMATIC: {
            const auto *p = static_cast<const b2PrismaticJoint *>(j.joint);
            out[0] = p->GetJointTranslation();
            out[1] = p->GetJointSpeed();
            break;
        }
        case MSP_JOINT_WHEEL: {
            const auto *wj = static_cast<const b2WheelJoint *>(j.joint);
            out[0] = wj->GetJointTranslation();
            out[1] = wj->GetJointLinearSpeed();
            break;
        }
        default:  // weld, distance: no degree of freedom to report
            out[0] = 0.0f;
            out[1] = 0.0f;
            break;
        }
        out += 2;
    }
    cast_lidars(w, out);
    out += w->ray_dirs.size();
    for (const ContactSensor &s : w->contact_sensors) {
        *out++ = (s.last_event ? s.flag : (s.count > 0 || s.latched)) ? 1.0f : 0.0f;
    }
    for (const Actuator &a : w->actuators) *out++ = a.effort;
}

}  // namespace

extern "C" {

void msp_world_read_state(msp_world *world, float *state) {
    if (world == nullptr || state == nullptr) return;
    write_state(world, state);
}

void msp_world_step(msp_world *world, const float *commands, float *state) {
    if (world == nullptr) return;
    advance(world, commands);
    if (state != nullptr) write_state(world, state);
}

void msp_world_step_raw(msp_world *world, const float *commands) {
    if (world == nullptr) return;
    advance(world, commands);
}

}  // extern "C"
