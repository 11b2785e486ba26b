// Gymnasium's LunarLander-v3 (discrete actions, no wind) ported line by line onto Box2D 2.4.1, the
// engine metasim links: a reference for Benchmarks/box2d24_lunar_lander.py, which asks whether
// lunar-lander-discrete's gap to Gymnasium (pybox2d, Box2D 2.3.10) comes from metasim's world or
// from the Box2D version. Not part of metasim; built by that script with the system's libbox2d.
//
// Source: gymnasium/envs/box2d/lunar_lander.py (Gymnasium 1.2): the same constants, bodies,
// fixtures, joints, engine impulses (its 17/SCALE side-engine x offset included, or another with
// --side-x), contact flags, shaping reward and terminations.
//
//   box2d24_lunar_lander random EPISODES SEED [--side-x PX]
//       Gymnasium's noise (terrain, initial push, engine dispersion) from std::mt19937(SEED),
//       uniformly random actions; prints one JSON object: the mean return and its 95 % interval,
//       the mean angle term of the shaping (-100 |angle|) in the last step before the end, the
//       crash rate and the mean length.
//   box2d24_lunar_lander trace [--side-x PX] < ACTIONS
//       Noise off (flat terrain at the pad height, no push, no dispersion: Gymnasium's draws at
//       their midpoints); ACTIONS is `metasim trace`'s JSON ([[a], [a], ...]); prints the reset
//       observation, then one line per step, as JSON arrays of the 8 observations.

#include <box2d/box2d.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

// Gymnasium's module constants.
constexpr double FPS = 50, SCALE = 30;
constexpr double MAIN_ENGINE_POWER = 13.0, SIDE_ENGINE_POWER = 0.6, INITIAL_RANDOM = 1000.0;
constexpr double LEG_AWAY = 20, LEG_DOWN = 18, LEG_W = 2, LEG_H = 8, LEG_SPRING_TORQUE = 40;
constexpr double SIDE_ENGINE_HEIGHT = 14, SIDE_ENGINE_AWAY = 12, MAIN_ENGINE_Y_LOCATION = 4;
constexpr double VIEWPORT_W = 600, VIEWPORT_H = 400;
constexpr int CHUNKS = 11;
constexpr double W = VIEWPORT_W / SCALE, H = VIEWPORT_H / SCALE;

// Gymnasium's np_random.uniform, or its midpoint when the noise is off.
struct Noise {
    std::mt19937 gen;
    bool on;
    double uniform(double low, double high) {
        return on ? std::uniform_real_distribution<double>(low, high)(gen) : (low + high) / 2;
    }
};

// Gymnasium's ContactDetector: game_over on any hull contact; a leg's flag set by a begin and
// cleared by any end.
struct ContactDetector : b2ContactListener {
    b2Body *lander = nullptr, *legs[2] = {nullptr, nullptr};
    bool game_over = false;
    bool ground_contact[2] = {false, false};
    void BeginContact(b2Contact *c) override {
        b2Body *a = c->GetFixtureA()->GetBody(), *b = c->GetFixtureB()->GetBody();
        if (a == lander || b == lander) game_over = true;
        for (int i = 0; i < 2; ++i)
            if (a == legs[i] || b == legs[i]) ground_contact[i] = true;
    }
    void EndContact(b2Contact *c) override {
        b2Body *a = c->GetFixtureA()->GetBody(), *b = c->GetFixtureB()->GetBody();
        for (int i = 0; i < 2; ++i)
            if (a == legs[i] || b == legs[i]) ground_contact[i] = false;
    }
};

struct Step {
    double state[8];
    double reward;
    bool terminated;
};

class LunarLander {
  public:
    LunarLander(Noise &noise, double side_x) : noise_(noise), side_x_(side_x), world_(b2Vec2(0, -10)) {
        world_.SetContactListener(&detector_);
        // The moon: CHUNKS + 1 heights, the pad's five flattened, smoothed with 0.33 * (h[i-1] +
        // h[i] + h[i+1]) (h[-1] is the last height, as Python's indexing wraps).
        double height[CHUNKS + 1];
        for (double &h : height) h = noise_.uniform(0, H / 2);
        helipad_y_ = H / 4;
        for (int i = CHUNKS / 2 - 2; i <= CHUNKS / 2 + 2; ++i) height[i] = helipad_y_;
        double chunk_x[CHUNKS], smooth_y[CHUNKS];
        for (int i = 0; i < CHUNKS; ++i) {
            chunk_x[i] = W / (CHUNKS - 1) * i;
            smooth_y[i] = 0.33 * (height[i == 0 ? CHUNKS : i - 1] + height[i] + height[i + 1]);
        }
        b2BodyDef moon_def;
        b2Body *moon = world_.CreateBody(&moon_def);
        b2EdgeShape base;
        base.SetTwoSided(b2Vec2(0, 0), b2Vec2(W, 0));
        moon->CreateFixture(&base, 0);
        for (int i = 0; i < CHUNKS - 1; ++i) {
            b2EdgeShape edge;
            edge.SetTwoSided(b2Vec2(chunk_x[i], smooth_y[i]), b2Vec2(chunk_x[i + 1], smooth_y[i + 1]));
            b2FixtureDef fd;
            fd.shape = &edge;
            fd.density = 0;
            fd.friction = 0.1;
            moon->CreateFixture(&fd);
        }
        // The lander, pushed by a random force before the first step.
        const double initial_x = W / 2, initial_y = H;
        b2BodyDef bd;
        bd.type = b2_dynamicBody;
        bd.position.Set(initial_x, initial_y);
        lander_ = world_.CreateBody(&bd);
        const double poly[6][2] = {{-14, 17}, {-17, 0}, {-17, -10}, {17, -10}, {17, 0}, {14, 17}};
        b2Vec2 vertices[6];
        for (int i = 0; i < 6; ++i) vertices[i].Set(poly[i][0] / SCALE, poly[i][1] / SCALE);
        b2PolygonShape hull;
        hull.Set(vertices, 6);
        b2FixtureDef fd;
        fd.shape = &hull;
        fd.density = 5.0;
        fd.friction = 0.1;
        fd.filter.categoryBits = 0x0010;
        fd.filter.maskBits = 0x001;
        fd.restitution = 0.0;
        lander_->CreateFixture(&fd);
        const double fx = noise_.uniform(-INITIAL_RANDOM, INITIAL_RANDOM);
        const double fy = noise_.uniform(-INITIAL_RANDOM, INITIAL_RANDOM);
        lander_->ApplyForceToCenter(b2Vec2(fx, fy), true);
        detector_.lander = lander_;
        // The legs, i = -1 then +1, on motorised, limited revolute joints; pybox2d's joint
        // definition takes the bodies' initial relative angle as the reference angle.
        for (int k = 0; k < 2; ++k) {
            const double i = k == 0 ? -1 : 1;
            b2BodyDef leg_def;
            leg_def.type = b2_dynamicBody;
            leg_def.position.Set(initial_x - i * LEG_AWAY / SCALE, initial_y);
            leg_def.angle = i * 0.05;
            b2Body *leg = world_.CreateBody(&leg_def);
            b2PolygonShape box;
            box.SetAsBox(LEG_W / SCALE, LEG_H / SCALE);
            b2FixtureDef leg_fixture;
            leg_fixture.shape = &box;
            leg_fixture.density = 1.0;
            leg_fixture.restitution = 0.0;
            leg_fixture.filter.categoryBits = 0x0020;
            leg_fixture.filter.maskBits = 0x001;
            leg->CreateFixture(&leg_fixture);
            b2RevoluteJointDef rjd;
            rjd.bodyA = lander_;
            rjd.bodyB = leg;
            rjd.localAnchorA.SetZero();
            rjd.localAnchorB.Set(i * LEG_AWAY / SCALE, LEG_DOWN / SCALE);
            rjd.referenceAngle = leg_def.angle;
            rjd.enableMotor = true;
            rjd.enableLimit = true;
            rjd.maxMotorTorque = LEG_SPRING_TORQUE;
            rjd.motorSpeed = 0.3 * i;
            rjd.lowerAngle = i == -1 ? 0.9 - 0.5 : -0.9;
            rjd.upperAngle = i == -1 ? 0.9 : -0.9 + 0.5;
            world_.CreateJoint(&rjd);
            detector_.legs[k] = leg;
        }
    }

    // Gymnasium's step() for a discrete action (0 nothing, 1 left engine, 2 main, 3 right).
    Step step(int action) {
        const double tip[2] = {std::sin(lander_->GetAngle()), std::cos(lander_->GetAngle())};
        const double side[2] = {-tip[1], tip[0]};
        const double dispersion[2] = {noise_.uniform(-1, 1) / SCALE, noise_.uniform(-1, 1) / SCALE};
        double m_power = 0, s_power = 0;
        if (action == 2) {
            m_power = 1.0;
            const double ox = tip[0] * (MAIN_ENGINE_Y_LOCATION / SCALE + 2 * dispersion[0]) + side[0] * dispersion[1];
            const double oy = -tip[1] * (MAIN_ENGINE_Y_LOCATION / SCALE + 2 * dispersion[0]) - side[1] * dispersion[1];
            const b2Vec2 at(lander_->GetPosition().x + ox, lander_->GetPosition().y + oy);
            lander_->ApplyLinearImpulse(b2Vec2(-ox * MAIN_ENGINE_POWER * m_power, -oy * MAIN_ENGINE_POWER * m_power), at, true);
        }
        if (action == 1 || action == 3) {
            const double direction = action - 2;
            s_power = 1.0;
            const double ox = tip[0] * dispersion[0] + side[0] * (3 * dispersion[1] + direction * SIDE_ENGINE_AWAY / SCALE);
            const double oy = -tip[1] * dispersion[0] - side[1] * (3 * dispersion[1] + direction * SIDE_ENGINE_AWAY / SCALE);
            const b2Vec2 at(lander_->GetPosition().x + ox - tip[0] * side_x_ / SCALE,
                            lander_->GetPosition().y + oy + tip[1] * SIDE_ENGINE_HEIGHT / SCALE);
            lander_->ApplyLinearImpulse(b2Vec2(-ox * SIDE_ENGINE_POWER * s_power, -oy * SIDE_ENGINE_POWER * s_power), at, true);
        }
        world_.Step(1.0 / FPS, 6 * 30, 2 * 30);

        const b2Vec2 pos = lander_->GetPosition(), vel = lander_->GetLinearVelocity();
        Step s;
        s.state[0] = (pos.x - VIEWPORT_W / SCALE / 2) / (VIEWPORT_W / SCALE / 2);
        s.state[1] = (pos.y - (helipad_y_ + LEG_DOWN / SCALE)) / (VIEWPORT_H / SCALE / 2);
        s.state[2] = vel.x * (VIEWPORT_W / SCALE / 2) / FPS;
        s.state[3] = vel.y * (VIEWPORT_H / SCALE / 2) / FPS;
        s.state[4] = lander_->GetAngle();
        s.state[5] = 20.0 * lander_->GetAngularVelocity() / FPS;
        s.state[6] = detector_.ground_contact[0] ? 1.0 : 0.0;
        s.state[7] = detector_.ground_contact[1] ? 1.0 : 0.0;
        const double *st = s.state;
        const double shaping = -100 * std::sqrt(st[0] * st[0] + st[1] * st[1]) -
                               100 * std::sqrt(st[2] * st[2] + st[3] * st[3]) - 100 * std::fabs(st[4]) +
                               10 * st[6] + 10 * st[7];
        s.reward = has_prev_shaping_ ? shaping - prev_shaping_ : 0;
        prev_shaping_ = shaping;
        has_prev_shaping_ = true;
        s.reward -= m_power * 0.30 + s_power * 0.03;
        s.terminated = false;
        if (detector_.game_over || std::fabs(st[0]) >= 1.0) {
            s.terminated = true;
            s.reward = -100;
        }
        if (!lander_->IsAwake()) {
            s.terminated = true;
            s.reward = +100;
        }
        return s;
    }

  private:
    Noise &noise_;
    double side_x_;
    b2World world_;
    ContactDetector detector_;
    b2Body *lander_ = nullptr;
    double helipad_y_ = 0, prev_shaping_ = 0;
    bool has_prev_shaping_ = false;
};

void print_state(const double *s) {
    std::printf("[%.9g, %.9g, %.9g, %.9g, %.9g, %.9g, %.9g, %.9g]\n", s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
}

int random_episodes(long episodes, unsigned seed, double side_x) {
    Noise noise{std::mt19937(seed), true};
    std::uniform_int_distribution<int> pick(0, 3);
    double sum = 0, sum2 = 0, angle_term = 0, length = 0, crashes = 0;
    for (long e = 0; e < episodes; ++e) {
        LunarLander env(noise, side_x);
        Step s = env.step(0);  // reset() ends with a no-op step
        double total = 0, last_angle = s.state[4];
        int t = 0;
        while (t < 1000) {  // gym.make's TimeLimit
            ++t;
            s = env.step(pick(noise.gen));
            total += s.reward;
            if (s.terminated) break;
            last_angle = s.state[4];
        }
        sum += total;
        sum2 += total * total;
        angle_term += -100 * std::fabs(last_angle);
        length += t;
        crashes += s.terminated && s.reward == -100 ? 1 : 0;
    }
    const double n = double(episodes), mean = sum / n;
    const double sd = std::sqrt(std::max(0.0, (sum2 - n * mean * mean) / (n - 1)));
    std::printf("{\"episodes\": %ld, \"seed\": %u, \"side_x\": %g, \"mean_return\": %.4f, \"ci95\": %.4f, "
                "\"angle_term_before_end\": %.4f, \"crash_rate\": %.4f, \"mean_length\": %.2f}\n",
                episodes, seed, side_x, mean, 1.96 * sd / std::sqrt(n), angle_term / n, crashes / n, length / n);
    return 0;
}

int trace(double side_x) {
    std::string text;
    for (int c; (c = std::getchar()) != EOF;) text.push_back(char(c));
    // Every number in the text, in order (the brackets and commas of [[a], [a], ...] skipped);
    // a sign, a fraction or a value out of 0..3 is refused before any step, not read as another action.
    std::vector<int> actions;
    for (const char *p = text.c_str(); *p != '\0';) {
        if ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.') {
            char *end = nullptr;
            const double v = std::strtod(p, &end);
            if (end == p || !(v == 0 || v == 1 || v == 2 || v == 3)) {
                std::fprintf(stderr, "trace: '%.20s' is not an action index 0..3\n", p);
                return 2;
            }
            actions.push_back(int(v));
            p = end;
        } else {
            ++p;
        }
    }
    Noise noise{std::mt19937(0), false};
    LunarLander env(noise, side_x);
    Step s = env.step(0);
    print_state(s.state);
    for (const int a : actions) {
        s = env.step(a);
        print_state(s.state);
        if (s.terminated) break;
    }
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    double side_x = 17;  // Gymnasium's
    std::vector<const char *> args;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--side-x") == 0 && i + 1 < argc) {
            side_x = std::atof(argv[++i]);
        } else {
            args.push_back(argv[i]);
        }
    }
    if (args.size() == 3 && std::strcmp(args[0], "random") == 0 && std::atol(args[1]) > 1)
        return random_episodes(std::atol(args[1]), unsigned(std::strtoul(args[2], nullptr, 10)), side_x);
    if (args.size() == 1 && std::strcmp(args[0], "trace") == 0) return trace(side_x);
    std::fprintf(stderr, "usage: %s random EPISODES SEED [--side-x PX] | trace [--side-x PX] < ACTIONS\n", argv[0]);
    return 2;
}
