// Gymnasium's BipedalWalker-v3 (normal mode) ported line by line onto Box2D 2.4.1, the engine
// metasim links: the reference that Benchmarks/box2d24_bipedal_walker.py drives, which asks
// whether bipedal-walker's gap to Gymnasium (pybox2d, Box2D 2.3.10) under Gymnasium's scripted
// gait comes from metasim's world or from the Box2D version. Not part of metasim.
//
// Source: gymnasium/envs/box2d/bipedal_walker.py (Gymnasium 1.2), hardcore=False: the same
// constants, terrain generator, bodies, fixtures, joints (pybox2d's joint definition takes the
// bodies' initial relative angle as the reference angle), torque-mode motors, lidar, contact
// flags, shaping reward and terminations.
//
// A line protocol on stdin/stdout, so that Python can drive it with Gymnasium's own controller:
//   reset SEED        -> the reset observation (after reset()'s step of zeros)
//   step A0 A1 A2 A3  -> the observation, the reward and 1/0 for terminated
// Each reply is one line of numbers separated by spaces.

#include <box2d/box2d.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

namespace {

// Gymnasium's module constants.
constexpr double FPS = 50, SCALE = 30.0;
constexpr double MOTORS_TORQUE = 80, SPEED_HIP = 4, SPEED_KNEE = 6;
constexpr double LIDAR_RANGE = 160 / SCALE, INITIAL_RANDOM = 5;
constexpr double HULL_POLY[5][2] = {{-30, +9}, {+6, +9}, {+34, +1}, {+34, -8}, {-30, -8}};
constexpr double LEG_DOWN = -8 / SCALE, LEG_W = 8 / SCALE, LEG_H = 34 / SCALE;
constexpr double VIEWPORT_W = 600, VIEWPORT_H = 400;
constexpr double TERRAIN_STEP = 14 / SCALE;
constexpr int TERRAIN_LENGTH = 200, TERRAIN_GRASS = 10, TERRAIN_STARTPAD = 20;
constexpr double TERRAIN_HEIGHT = VIEWPORT_H / SCALE / 4, FRICTION = 2.5;

struct ContactDetector : b2ContactListener {
    b2Body *hull = nullptr, *lower[2] = {nullptr, nullptr};
    bool game_over = false, ground_contact[2] = {false, false};
    void BeginContact(b2Contact *c) override {
        b2Body *a = c->GetFixtureA()->GetBody(), *b = c->GetFixtureB()->GetBody();
        if (a == hull || b == hull) game_over = true;
        for (int i = 0; i < 2; ++i)
            if (a == lower[i] || b == lower[i]) ground_contact[i] = true;
    }
    void EndContact(b2Contact *c) override {
        b2Body *a = c->GetFixtureA()->GetBody(), *b = c->GetFixtureB()->GetBody();
        for (int i = 0; i < 2; ++i)
            if (a == lower[i] || b == lower[i]) ground_contact[i] = false;
    }
};

// The closest terrain hit along a ray (Gymnasium's LidarCallback: fixtures whose category has
// bit 1, the terrain's).
struct LidarCallback : b2RayCastCallback {
    float fraction = 1.0f;
    float ReportFixture(b2Fixture *fixture, const b2Vec2 &, const b2Vec2 &, float f) override {
        if ((fixture->GetFilterData().categoryBits & 1) == 0) return -1;
        fraction = f;
        return f;
    }
};

class BipedalWalker {
  public:
    explicit BipedalWalker(unsigned seed) : gen_(seed), world_(b2Vec2(0, -10)) {
        world_.SetContactListener(&detector_);
        generate_terrain();
        const double init_x = TERRAIN_STEP * TERRAIN_STARTPAD / 2, init_y = TERRAIN_HEIGHT + 2 * LEG_H;
        b2BodyDef hull_def;
        hull_def.type = b2_dynamicBody;
        hull_def.position.Set(init_x, init_y);
        hull_ = world_.CreateBody(&hull_def);
        b2Vec2 vertices[5];
        for (int i = 0; i < 5; ++i) vertices[i].Set(HULL_POLY[i][0] / SCALE, HULL_POLY[i][1] / SCALE);
        b2PolygonShape hull_shape;
        hull_shape.Set(vertices, 5);
        add_fixture(hull_, hull_shape, 5.0, 0.1);
        hull_->ApplyForceToCenter(b2Vec2(uniform(-INITIAL_RANDOM, INITIAL_RANDOM), 0), true);
        detector_.hull = hull_;
        for (int k = 0; k < 2; ++k) {
            const double i = k == 0 ? -1 : 1;
            b2Body *leg = dynamic_body(init_x, init_y - LEG_H / 2 - LEG_DOWN, i * 0.05);
            b2PolygonShape leg_shape;
            leg_shape.SetAsBox(LEG_W / 2, LEG_H / 2);
            add_fixture(leg, leg_shape, 1.0, 0.2);
            joints_[2 * k] = revolute(hull_, leg, b2Vec2(0, LEG_DOWN), b2Vec2(0, LEG_H / 2), i, -0.8, 1.1);
            b2Body *lower = dynamic_body(init_x, init_y - LEG_H * 3 / 2 - LEG_DOWN, i * 0.05);
            b2PolygonShape lower_shape;
            lower_shape.SetAsBox(0.8 * LEG_W / 2, LEG_H / 2);
            add_fixture(lower, lower_shape, 1.0, 0.2);
            joints_[2 * k + 1] = revolute(leg, lower, b2Vec2(0, -LEG_H / 2), b2Vec2(0, LEG_H / 2), 1, -1.6, -0.1);
            detector_.lower[k] = lower;
        }
    }

    // Gymnasium's step(): torque-mode motors, one world step, the 24 observations, the reward.
    void step(const double action[4], double state[24], double &reward, bool &terminated) {
        for (int j = 0; j < 4; ++j) {
            const double speed = j % 2 == 0 ? SPEED_HIP : SPEED_KNEE;
            const double sign = action[j] > 0 ? 1 : (action[j] < 0 ? -1 : 0);
            joints_[j]->SetMotorSpeed(float(speed * sign));
            joints_[j]->SetMaxMotorTorque(float(MOTORS_TORQUE * std::clamp(std::fabs(action[j]), 0.0, 1.0)));
        }
        world_.Step(1.0 / FPS, 6 * 30, 2 * 30);
        const b2Vec2 pos = hull_->GetPosition(), vel = hull_->GetLinearVelocity();
        state[0] = hull_->GetAngle();
        state[1] = 2.0 * hull_->GetAngularVelocity() / FPS;
        state[2] = 0.3 * vel.x * (VIEWPORT_W / SCALE) / FPS;
        state[3] = 0.3 * vel.y * (VIEWPORT_H / SCALE) / FPS;
        for (int k = 0; k < 2; ++k) {
            state[4 + 5 * k] = joints_[2 * k]->GetJointAngle();
            state[5 + 5 * k] = joints_[2 * k]->GetJointSpeed() / SPEED_HIP;
            state[6 + 5 * k] = joints_[2 * k + 1]->GetJointAngle() + 1.0;
            state[7 + 5 * k] = joints_[2 * k + 1]->GetJointSpeed() / SPEED_KNEE;
            state[8 + 5 * k] = detector_.ground_contact[k] ? 1.0 : 0.0;
        }
        for (int i = 0; i < 10; ++i) {
            LidarCallback lidar;
            const b2Vec2 p2(pos.x + std::sin(1.5 * i / 10.0) * LIDAR_RANGE, pos.y - std::cos(1.5 * i / 10.0) * LIDAR_RANGE);
            world_.RayCast(&lidar, pos, p2);
            state[14 + i] = lidar.fraction;
        }
        const double shaping = 130 * pos.x / SCALE - 5.0 * std::fabs(state[0]);
        reward = has_prev_shaping_ ? shaping - prev_shaping_ : 0;
        prev_shaping_ = shaping;
        has_prev_shaping_ = true;
        for (int j = 0; j < 4; ++j) reward -= 0.00035 * MOTORS_TORQUE * std::clamp(std::fabs(action[j]), 0.0, 1.0);
        terminated = false;
        if (detector_.game_over || pos.x < 0) {
            reward = -100;
            terminated = true;
        }
        if (pos.x > (TERRAIN_LENGTH - TERRAIN_GRASS) * TERRAIN_STEP) terminated = true;
    }

  private:
    double uniform(double low, double high) { return std::uniform_real_distribution<double>(low, high)(gen_); }
    int integers(int low, int high) { return std::uniform_int_distribution<int>(low, high - 1)(gen_); }

    // Normal mode: a damped random walk of the height, its slope redrawn from the 21st point on and
    // left alone for one point after every grass stretch; one static edge body per segment.
    void generate_terrain() {
        double velocity = 0.0, y = TERRAIN_HEIGHT;
        int counter = TERRAIN_STARTPAD;
        bool oneshot = false;
        std::vector<double> xs, ys;
        for (int i = 0; i < TERRAIN_LENGTH; ++i) {
            xs.push_back(i * TERRAIN_STEP);
            if (!oneshot) {
                velocity = 0.8 * velocity + 0.01 * (TERRAIN_HEIGHT - y > 0 ? 1 : (TERRAIN_HEIGHT - y < 0 ? -1 : 0));
                if (i > TERRAIN_STARTPAD) velocity += uniform(-1, 1) / SCALE;
                y += velocity;
            }
            oneshot = false;
            ys.push_back(y);
            if (--counter == 0) {
                counter = integers(TERRAIN_GRASS / 2, TERRAIN_GRASS);
                oneshot = true;
            }
        }
        for (int i = 0; i < TERRAIN_LENGTH - 1; ++i) {
            b2BodyDef bd;
            b2Body *t = world_.CreateBody(&bd);
            b2EdgeShape edge;
            edge.SetTwoSided(b2Vec2(xs[i], ys[i]), b2Vec2(xs[i + 1], ys[i + 1]));
            b2FixtureDef fd;
            fd.shape = &edge;
            fd.friction = FRICTION;
            fd.filter.categoryBits = 0x0001;
            t->CreateFixture(&fd);
        }
    }

    b2Body *dynamic_body(double x, double y, double angle) {
        b2BodyDef bd;
        bd.type = b2_dynamicBody;
        bd.position.Set(x, y);
        bd.angle = angle;
        return world_.CreateBody(&bd);
    }

    static void add_fixture(b2Body *body, const b2Shape &shape, double density, double friction) {
        b2FixtureDef fd;
        fd.shape = &shape;
        fd.density = density;
        fd.friction = friction;
        fd.restitution = 0.0;
        fd.filter.categoryBits = 0x0020;
        fd.filter.maskBits = 0x001;
        body->CreateFixture(&fd);
    }

    b2RevoluteJoint *revolute(b2Body *a, b2Body *b, b2Vec2 anchor_a, b2Vec2 anchor_b, double speed, double lower,
                              double upper) {
        b2RevoluteJointDef rjd;
        rjd.bodyA = a;
        rjd.bodyB = b;
        rjd.localAnchorA = anchor_a;
        rjd.localAnchorB = anchor_b;
        rjd.referenceAngle = b->GetAngle() - a->GetAngle();
        rjd.enableMotor = true;
        rjd.enableLimit = true;
        rjd.maxMotorTorque = MOTORS_TORQUE;
        rjd.motorSpeed = speed;
        rjd.lowerAngle = lower;
        rjd.upperAngle = upper;
        return static_cast<b2RevoluteJoint *>(world_.CreateJoint(&rjd));
    }

    std::mt19937 gen_;
    b2World world_;
    ContactDetector detector_;
    b2Body *hull_ = nullptr;
    b2RevoluteJoint *joints_[4] = {nullptr, nullptr, nullptr, nullptr};
    double prev_shaping_ = 0;
    bool has_prev_shaping_ = false;
};

void reply(const double state[24], const double *reward, const bool *terminated) {
    for (int i = 0; i < 24; ++i) std::printf(i ? " %.9g" : "%.9g", state[i]);
    if (reward != nullptr) std::printf(" %.9g %d", *reward, *terminated ? 1 : 0);
    std::printf("\n");
    std::fflush(stdout);
}

}  // namespace

int main() {
    std::unique_ptr<BipedalWalker> env;
    char command[16];
    while (std::scanf("%15s", command) == 1) {
        double state[24], reward;
        bool terminated;
        if (std::strcmp(command, "reset") == 0) {
            long long seed;  // read signed, so that "-1" is refused rather than wrapped to 4294967295
            if (std::scanf("%lld", &seed) != 1 || seed < 0 || seed > 0xFFFFFFFFLL) {
                std::fprintf(stderr, "reset: a seed in 0..4294967295 expected\n");
                return 2;
            }
            env = std::make_unique<BipedalWalker>(unsigned(seed));
            const double zeros[4] = {0, 0, 0, 0};
            env->step(zeros, state, reward, terminated);  // reset() returns step(zeros)'s observation
            reply(state, nullptr, nullptr);
        } else if (std::strcmp(command, "step") == 0 && env) {
            double action[4];
            if (std::scanf("%lf %lf %lf %lf", &action[0], &action[1], &action[2], &action[3]) != 4 ||
                !std::all_of(action, action + 4, [](double a) { return std::isfinite(a); })) {
                std::fprintf(stderr, "step: four finite actions expected\n");
                return 2;
            }
            env->step(action, state, reward, terminated);
            reply(state, &reward, &terminated);
        } else {
            std::fprintf(stderr, "usage: reset SEED | step A0 A1 A2 A3 (one per line)\n");
            return 2;
        }
    }
    return 0;
}
