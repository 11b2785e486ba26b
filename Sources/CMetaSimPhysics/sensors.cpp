// sensors.cpp: contact flags (fed by Box2D's contact callbacks) and lidar ray casts.

#include "internal.hpp"

namespace msp {

namespace {

// Updates the sensors of `body` for a contact with a fixture of category `other`. Each body keeps
// a short linked list of its sensors, so a callback costs O(sensors on the two bodies).
void touch(msp_world *w, uintptr_t body, uint16_t other, bool begin) {
    for (int32_t s = w->body_first_sensor[body]; s >= 0;) {
        ContactSensor &sensor = w->contact_sensors[s];
        if ((other & sensor.mask) != 0) {
            if (begin) {
                ++sensor.count;
                sensor.latched = true;  // a touch that begins and ends within one step still shows
            } else if (sensor.count > 0) {
                --sensor.count;
            }
            sensor.flag = begin;  // the last event, for sensors that report it
        }
        s = sensor.next;
    }
}

void on_contact(msp_world *w, b2Contact *contact, bool begin) {
    if (w->contact_sensors.empty()) return;
    b2Fixture *fa = contact->GetFixtureA();
    b2Fixture *fb = contact->GetFixtureB();
    if (fa->IsSensor() || fb->IsSensor()) return;  // sensor overlaps are not touches
    touch(w, fa->GetBody()->GetUserData().pointer, fb->GetFilterData().categoryBits, begin);
    touch(w, fb->GetBody()->GetUserData().pointer, fa->GetFilterData().categoryBits, begin);
}

// Closest hit among fixtures whose category matches the mask. Returning the fraction clips the
// ray, so Box2D only reports nearer fixtures afterwards; -1 skips a fixture. Sensor fixtures
// count, as in Gymnasium's lidar callback.
class LidarCallback final : public b2RayCastCallback {
public:
    uint16_t mask = 0;
    float fraction = 1.0f;

    float ReportFixture(b2Fixture *fixture, const b2Vec2 &, const b2Vec2 &, float hit) override {
        if ((fixture->GetFilterData().categoryBits & mask) == 0) return -1.0f;
        if (hit < fraction) fraction = hit;
        return hit;
    }
};

}  // namespace

void ContactListener::BeginContact(b2Contact *contact) { on_contact(world_, contact, true); }
void ContactListener::EndContact(b2Contact *contact) { on_contact(world_, contact, false); }

void cast_lidars(const msp_world *w, float *out) {
    LidarCallback callback;
    for (const Lidar &l : w->lidars) {
        const b2Transform &xf = l.body->GetTransform();
        const b2Vec2 p1 = b2Mul(xf, l.origin);
        const b2Vec2 *dirs = w->ray_dirs.data() + l.first_ray;
        callback.mask = l.mask;
        for (int32_t i = 0; i < l.ray_count; ++i) {
            const b2Vec2 d = l.body_frame ? b2Mul(xf.q, dirs[i]) : dirs[i];
            const b2Vec2 p2 = p1 + l.range * d;
            // A body that has flown off to huge or non-finite coordinates would give Box2D an
            // empty or NaN ray, which it asserts against: report nothing in range instead.
            const b2Vec2 r = p2 - p1;
            callback.fraction = 1.0f;
            if (r.LengthSquared() > 0.0f && p1.IsValid() && p2.IsValid()) w->b2w->RayCast(&callback, p1, p2);
            out[i] = callback.fraction;
        }
        out += l.ray_count;
    }
}

}  // namespace msp
