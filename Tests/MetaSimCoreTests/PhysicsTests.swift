import Foundation
import Testing

@testable import MetaSimCore

/// Box2D through the whole stack (YAML -> definition -> program -> C++ shim -> observations)
/// against closed-form mechanics.
@Suite("Physics against closed forms")
struct PhysicsTests {
    static let g = 9.81

    /// One dynamic ball, no damping, environment step = `timestep` × `substeps`.
    static func ballWorld(position: (Double, Double), velocity: (Double, Double),
                          timestep: Double = 0.0001, substeps: Int = 10) -> String {
        """
        name: ball
        simulation:
          timestep: \(timestep)
          substeps: \(substeps)
          velocity_iterations: 8
          position_iterations: 3
          gravity: [0, -\(g)]
          allow_sleep: false
        episode:
          horizon: 0
        bodies:
          ball:
            position: [\(position.0), \(position.1)]
            velocity: [\(velocity.0), \(velocity.1)]
            linear_damping: 0
            angular_damping: 0
            allow_sleep: false
            shapes:
              - circle: 0.1
                density: 1
        actions:
          - name: push            # zero effect: max_force 0
            type: force
            body: ball
            max_force: 0
        observations:
          - name: ball_x
            type: position
            body: ball
            axis: x
          - name: ball_y
            type: position
            body: ball
            axis: y
        reward:
          - name: alive
            type: alive
        """
    }

    @Test("free fall matches y0 + v0 t - g t^2 / 2 within 1e-3 m")
    func freeFall() throws {
        let y0 = 2.0, v0 = 1.5
        let definition = try TestSupport.parse(Self.ballWorld(position: (0, y0), velocity: (0, v0)))
        let world = try TestSupport.world(definition)
        world.reset(seed: 0)
        let stepTime = 0.0001 * 10
        #expect(world.required("dt") == stepTime)
        #expect(abs(world.required("ball.y") - y0) < 1e-6)

        let zero: [Float] = [0]
        var checked = 0
        for k in 1...1000 {
            let r = world.step(zero)
            #expect(r.reward == 1)
            #expect(!r.terminated && !r.truncated)
            if k % 100 == 0 {
                let t = Double(k) * stepTime
                let expected = y0 + v0 * t - Self.g * t * t / 2
                let y = world.required("ball.y")
                #expect(abs(y - expected) < 1e-3, "t=\(t): y=\(y), closed form \(expected)")
                #expect(abs(world.required("ball.vy") - (v0 - Self.g * t)) < 1e-3, "t=\(t)")
                // The observation is the same quantity, as Float.
                #expect(world.observation[1] == Float(y))
                #expect(abs(world.required("ball.x")) < 1e-9)
                checked += 1
            }
        }
        #expect(checked == 10)
        // Sanity: the ball really fell (the closed form is not trivially satisfied).
        #expect(world.required("ball.y") < y0 - 1)
    }

    @Test("projectile with v0 = (3, 4) matches the closed form in x and y within 1e-3 m")
    func projectile() throws {
        let x0 = -1.0, y0 = 0.5, vx = 3.0, vy = 4.0
        let definition = try TestSupport.parse(Self.ballWorld(position: (x0, y0), velocity: (vx, vy)))
        let world = try TestSupport.world(definition)
        world.reset(seed: 0)
        let stepTime = 0.001
        for k in 1...1000 {
            _ = world.step([0])
            if k % 50 == 0 {
                let t = Double(k) * stepTime
                let x = world.required("ball.x"), y = world.required("ball.y")
                #expect(abs(x - (x0 + vx * t)) < 1e-3, "t=\(t): x=\(x)")
                #expect(abs(y - (y0 + vy * t - Self.g * t * t / 2)) < 1e-3, "t=\(t): y=\(y)")
                #expect(abs(world.required("ball.vx") - vx) < 1e-4)
            }
        }
        // Apex at t = vy / g: the ball went up and came back down.
        #expect(world.required("ball.y") < y0)
    }

    @Test("small-angle pendulum period within 1% of 2π·sqrt(I_pivot / (m g d))")
    func pendulumPeriod() throws {
        let L = 1.0, r = 0.3, density = 2.0, theta0 = 0.05
        let dt = 0.0005
        let yaml = """
        name: pendulum
        simulation:
          timestep: \(dt)
          substeps: 1
          velocity_iterations: 60
          position_iterations: 30
          gravity: [0, -\(Self.g)]
          allow_sleep: false
        episode:
          horizon: 0
        bodies:
          pivot:
            type: static
            position: [0, 0]
            shapes:
              - circle: 0.02
                sensor: true
          bob:
            position: [\(L * sin(theta0)), \(-L * cos(theta0))]
            angle: \(theta0)
            allow_sleep: false
            shapes:
              - circle: \(r)
                density: \(density)
                friction: 0
        joints:
          hinge:
            type: revolute
            bodies: [pivot, bob]
            anchor: [0, 0]
            reference_angle: 0
        actions:
          - name: nudge
            type: force
            body: bob
            max_force: 0
        observations:
          - name: swing
            type: joint-angle
            joint: hinge
        reward:
          - name: alive
            type: alive
        """
        let definition = try TestSupport.parse(yaml)
        let world = try TestSupport.world(definition)
        world.reset(seed: 0)
        #expect(abs(world.required("hinge.angle") - theta0) < 1e-6)
        #expect(abs(Double(world.observation[0]) - theta0) < 1e-6)

        let m = density * Double.pi * r * r
        let iPivot = m * (r * r / 2 + L * L)
        let expectedPeriod = 2 * Double.pi * (iPivot / (m * Self.g * L)).squareRoot()

        // Upward and downward zero crossings of the joint angle, linearly interpolated.
        var crossings: [Double] = []
        var previous = world.required("hinge.angle")
        var maxAngle = 0.0
        let steps = Int((6 * expectedPeriod / dt).rounded())
        for k in 1...steps {
            _ = world.step([0])
            let a = world.required("hinge.angle")
            maxAngle = max(maxAngle, abs(a))
            if (previous < 0) != (a < 0) {
                let t0 = Double(k - 1) * dt
                crossings.append(t0 + dt * previous / (previous - a))
            }
            previous = a
        }
        // Six periods: twelve half-period crossings (at least ten to measure five periods).
        try #require(crossings.count >= 10, "only \(crossings.count) zero crossings")
        let n = crossings.count - 1
        let measured = 2 * (crossings[n] - crossings[0]) / Double(n)
        // r = 0.3 makes the bob's own inertia matter: the point-mass period 2π·sqrt(L/g) is 3.4%
        // shorter, so this tolerance tells the two apart.
        #expect(abs(measured - expectedPeriod) / expectedPeriod < 0.01,
                "period \(measured) s, expected \(expectedPeriod) s")
        // Energy is (nearly) conserved: the amplitude neither grows nor dies.
        #expect(maxAngle < theta0 * 1.05 && maxAngle > theta0 * 0.95, "amplitude \(maxAngle)")
        // The bob stays on its circle around the pivot.
        let x = world.required("bob.x"), y = world.required("bob.y")
        #expect(abs((x * x + y * y).squareRoot() - L) < 1e-3)
    }

    @Test("elastic head-on collision conserves momentum and reverses the relative velocity")
    func elasticCollision() throws {
        let ra = 0.25, rb = 0.4, density = 1.5
        let va = 2.0, vb = -1.5
        let yaml = """
        name: collision
        simulation:
          timestep: 0.001
          substeps: 1
          velocity_iterations: 20
          position_iterations: 10
          gravity: [0, 0]
          allow_sleep: false
        episode:
          horizon: 0
        bodies:
          a:
            position: [-1, 0]
            velocity: [\(va), 0]
            allow_sleep: false
            shapes:
              - circle: \(ra)
                density: \(density)
                friction: 0
                restitution: 1
          b:
            position: [1, 0]
            velocity: [\(vb), 0]
            allow_sleep: false
            shapes:
              - circle: \(rb)
                density: \(density)
                friction: 0
                restitution: 1
        actions:
          - name: push
            type: force
            body: a
            max_force: 0
        observations:
          - name: a_vx
            type: velocity
            body: a
            axis: x
          - name: b_vx
            type: velocity
            body: b
            axis: x
        reward:
          - name: alive
            type: alive
        """
        let definition = try TestSupport.parse(yaml)
        let world = try TestSupport.world(definition)
        world.reset(seed: 0)
        let ma = density * Double.pi * ra * ra, mb = density * Double.pi * rb * rb
        let before = (va: world.required("a.vx"), vb: world.required("b.vx"))
        #expect(abs(before.va - va) < 1e-6 && abs(before.vb - vb) < 1e-6)
        let p0 = ma * before.va + mb * before.vb

        // Gap 2 - 0.65 = 1.35 m closing at 3.5 m/s: contact after about 0.39 s.
        var touched = false
        for _ in 0..<1000 {
            _ = world.step([0])
            if world.required("a.contact") > 0 { touched = true }
        }
        #expect(touched, "the balls never touched")
        let after = (va: world.required("a.vx"), vb: world.required("b.vx"))
        let p1 = ma * after.va + mb * after.vb
        #expect(abs(p1 - p0) <= 0.01 * (ma * abs(va) + mb * abs(vb)), "momentum \(p0) -> \(p1)")
        #expect(abs(p1 - p0) / abs(p0) < 0.01, "momentum \(p0) -> \(p1)")
        // Restitution 1: v_b' - v_a' = -(v_b - v_a).
        let relBefore = before.vb - before.va, relAfter = after.vb - after.va
        #expect(abs(relAfter + relBefore) / abs(relBefore) < 0.01, "relative velocity \(relBefore) -> \(relAfter)")
        // Closed form of the 1-D elastic collision.
        let vaExpected = ((ma - mb) * va + 2 * mb * vb) / (ma + mb)
        let vbExpected = ((mb - ma) * vb + 2 * ma * va) / (ma + mb)
        #expect(abs(after.va - vaExpected) < 0.01 * abs(relBefore))
        #expect(abs(after.vb - vbExpected) < 0.01 * abs(relBefore))
        // Head-on: nothing moves sideways.
        #expect(abs(world.required("a.vy")) < 1e-6 && abs(world.required("b.vy")) < 1e-6)
    }

    /// A top-down car (gravity 0) coasting at 5 m/s with a steering fault `offset` (rad); stiff,
    /// unsaturated tyres, so it rolls as a kinematic bicycle.
    static let faultyCar = """
        name: faulty-car
        kind: driving
        parameters:
          offset: 0.1
          reversal: 1
        simulation:
          timestep: 0.01
          substeps: 5
          gravity: [0, 0]
          allow_sleep: false
        episode:
          horizon: 0
        bodies:
          car:
            velocity: [0, 5]
            linear_damping: 0
            angular_damping: 0
            shapes:
              - box: {half_extents: [0.9, 2.3]}
                density: 60
                mask: 0
        actions:
          - name: drive
            type: vehicle
            body: car
            wheelbase_front: 1.6
            wheelbase_rear: 1.2
            tyre_stiffness: 2000
            friction_limit: 100000
            max_steer: 0.4
            steer_offset: offset
            steer_sign: reversal
        observations:
          - name: heading
            type: angle
            body: car
        reward:
          - name: alive
            type: alive
        """

    /// Steps the faulty car 40 steps (2 s) at a fixed steer: its heading, x, and the distance it travelled.
    static func drive(offset: Double, steer: Float, sign: Double = 1) throws -> (heading: Double, x: Double, distance: Double) {
        let d = try TestSupport.parse(faultyCar)
        let world = try TestSupport.world(d, task: d.nominalTask(overrides: ["offset": offset, "reversal": sign]))
        world.reset(seed: 0)
        var distance = 0.0
        for _ in 0..<40 {
            _ = world.step([steer, 0, 0])
            distance += hypot(world.required("car.vx"), world.required("car.vy")) * 0.05
        }
        return (world.required("car.angle"), world.required("car.x"), distance)
    }

    @Test("a vehicle's steer_offset turns it at steer 0 as a bicycle with that wheel angle; steer -offset/max_steer drives straight")
    func steerOffset() throws {
        let straight = try Self.drive(offset: 0, steer: 0)
        #expect(straight.heading == 0 && straight.x == 0)
        let left = try Self.drive(offset: 0.1, steer: 0)
        let right = try Self.drive(offset: -0.1, steer: 0)
        // Kinematic bicycle: the heading turns by tan(offset) / wheelbase per metre travelled.
        let expected = tan(0.1) / 2.8 * left.distance
        #expect(left.heading > 0 && abs(left.heading - expected) < 0.05 * expected, "\(left) vs \(expected)")
        #expect(abs(left.heading + right.heading) < 1e-3 * left.heading && abs(left.x + right.x) < 1e-3 * abs(left.x), "\(left) \(right)")
        // Steering against the fault cancels it (the wheels start at the offset and turn back in 0.03 s).
        let cancelled = try Self.drive(offset: 0.1, steer: Float(-0.1 / 0.4))
        #expect(abs(cancelled.heading) < 0.02 * left.heading, "\(cancelled) vs \(left)")
    }

    @Test("a vehicle with steer_sign -1 turns the other way: steer s drives as steer -s does with sign 1, bit for bit")
    func steerSign() throws {
        let normalLeft = try Self.drive(offset: 0, steer: 0.25)
        let reversedRight = try Self.drive(offset: 0, steer: 0.25, sign: -1)
        let normalRight = try Self.drive(offset: 0, steer: -0.25)
        #expect(normalLeft.heading > 0.1 && reversedRight.heading < -0.1, "\(normalLeft) \(reversedRight)")
        #expect(reversedRight.heading.bitPattern == normalRight.heading.bitPattern && reversedRight.x.bitPattern == normalRight.x.bitPattern)
        // A sign that is not one is an error for the task, at its line.
        let d = try TestSupport.parse(Self.faultyCar)
        #expect(throws: WorldError.self) { _ = try WorldProgram(definition: d, task: d.nominalTask(overrides: ["reversal": 0.5])) }
    }
}
