// world.cpp: world lifetime, episode reset, state layout and memory accounting.

#include "internal.hpp"

#include <new>

using namespace msp;

namespace {

// Default episode settings, so a world is usable (and never holds a dangling b2World) before
// its first msp_world_clear.
const msp_world_config kDefaultConfig = {0.0f, -10.0f, 1.0f / 60.0f, 8, 3, 1, 1};

void destroy_b2world(msp_world *w) {
    if (w->b2w != nullptr) {
        w->b2w->~b2World();
        w->b2w = nullptr;
    }
}

}  // namespace

extern "C" {

msp_world *msp_world_create(void) {
    msp_world *w = new (std::nothrow) msp_world;
    if (w != nullptr) msp_world_clear(w, &kDefaultConfig, 0);
    return w;
}

void msp_world_destroy(msp_world *world) {
    if (world == nullptr) return;
    destroy_b2world(world);
    delete world;
}

void msp_world_clear(msp_world *world, const msp_world_config *config, uint64_t noise_seed) {
    if (world == nullptr) return;
    const msp_world_config &c = config != nullptr ? *config : kDefaultConfig;

    // The header gives clear no way to fail, so out-of-range settings fall back to safe values.
    const b2Vec2 gravity(finite(c.gravity_x) ? c.gravity_x : 0.0f,
                         finite(c.gravity_y) ? c.gravity_y : 0.0f);
    world->config.dt = finite(c.dt) && c.dt > 0.0f ? c.dt : kDefaultConfig.dt;
    world->config.velocity_iterations = c.velocity_iterations >= 1 ? c.velocity_iterations : 1;
    world->config.position_iterations = c.position_iterations >= 1 ? c.position_iterations : 1;
    world->config.substeps = c.substeps >= 1 ? c.substeps : 1;

    // Vectors keep their capacity: rebuilding the same scene allocates nothing on our side.
    world->bodies.clear();
    world->tracked.clear();
    world->body_first_sensor.clear();
    world->joints.clear();
    world->actuators.clear();
    world->substep_actuators.clear();
    world->commands.clear();
    world->lidars.clear();
    world->ray_dirs.clear();
    world->contact_sensors.clear();
    world->box2d_bytes = 0;
    world->locked = false;
    world->rng.seed(noise_seed);

    destroy_b2world(world);
    world->b2w = new (world->world_storage) b2World(gravity);
    world->b2w->SetAllowSleeping(c.allow_sleep != 0);
    world->b2w->SetContactListener(&world->listener);
}

void msp_world_ready(msp_world *world) {
    if (world == nullptr || world->b2w == nullptr || world->locked) return;
    // The world is not const and not inside a step, so both calls are what its own first step
    // would do: FindNewContacts pairs the proxies created while building (the step's own call
    // then finds nothing new), and the allocator's free list only decides the contacts' addresses.
    b2ContactManager &contacts = const_cast<b2ContactManager &>(world->b2w->GetContactManager());
    contacts.FindNewContacts();
    // Every contact type is a b2Contact with no member of its own, so they share one block size.
    const size_t wanted = static_cast<size_t>(world->peak_contacts > 0 ? world->peak_contacts : 1);
    if (static_cast<size_t>(contacts.m_contactCount) >= wanted) return;
    const size_t more = wanted - static_cast<size_t>(contacts.m_contactCount);
    world->reserved.clear();
    for (size_t i = 0; i < more; ++i) world->reserved.push_back(contacts.m_allocator->Allocate(sizeof(b2Contact)));
    for (void *block : world->reserved) contacts.m_allocator->Free(block, sizeof(b2Contact));
    world->reserved.clear();
}

int32_t msp_command_count(const msp_world *world) {
    return world != nullptr ? static_cast<int32_t>(world->commands.size()) : 0;
}

msp_state_layout msp_state_layout_get(const msp_world *world) {
    msp_state_layout l = {0, 0, 0, 0, 0, 0};
    if (world == nullptr) return l;
    l.joints = l.bodies + 7 * static_cast<int32_t>(world->tracked.size());
    l.lidars = l.joints + 2 * static_cast<int32_t>(world->joints.size());
    l.contacts = l.lidars + static_cast<int32_t>(world->ray_dirs.size());
    l.actuators = l.contacts + static_cast<int32_t>(world->contact_sensors.size());
    l.size = l.actuators + static_cast<int32_t>(world->actuators.size());
    return l;
}

int32_t msp_state_size(const msp_world *world) { return msp_state_layout_get(world).size; }

// Counts msp_world itself (which embeds the b2World and its 100 KB stack allocator), the capacity
// of the shim's vectors, and the Box2D heap objects of the current episode: bodies, fixtures with
// their shapes, proxies and chain vertices, joints (tallied while building), live contacts and
// broad-phase tree nodes. Block-allocator slack (Box2D allocates in 16 KB chunks) is not counted.
int64_t msp_world_footprint(const msp_world *world) {
    if (world == nullptr) return 0;
    const msp_world &w = *world;
    int64_t bytes = static_cast<int64_t>(sizeof(msp_world));
    bytes += static_cast<int64_t>(w.bodies.capacity() * sizeof(b2Body *));
    bytes += static_cast<int64_t>(w.tracked.capacity() * sizeof(int32_t));
    bytes += static_cast<int64_t>(w.body_first_sensor.capacity() * sizeof(int32_t));
    bytes += static_cast<int64_t>(w.joints.capacity() * sizeof(Joint));
    bytes += static_cast<int64_t>(w.actuators.capacity() * sizeof(Actuator));
    bytes += static_cast<int64_t>(w.substep_actuators.capacity() * sizeof(int32_t));
    bytes += static_cast<int64_t>(w.commands.capacity() * sizeof(float));
    bytes += static_cast<int64_t>(w.lidars.capacity() * sizeof(Lidar));
    bytes += static_cast<int64_t>(w.ray_dirs.capacity() * sizeof(b2Vec2));
    bytes += static_cast<int64_t>(w.contact_sensors.capacity() * sizeof(ContactSensor));
    bytes += static_cast<int64_t>(w.scratch.capacity() * sizeof(b2Vec2));
    bytes += w.box2d_bytes;
    if (w.b2w != nullptr) {
        bytes += static_cast<int64_t>(w.b2w->GetContactCount()) * static_cast<int64_t>(sizeof(b2Contact));
        bytes += 2 * static_cast<int64_t>(w.b2w->GetProxyCount()) * static_cast<int64_t>(sizeof(b2TreeNode));
    }
    return bytes;
}

}  // extern "C"
