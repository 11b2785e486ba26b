import CMetaSimPhysics
import Foundation

/// Static geometry of the current episode, in world coordinates, for rendering.
public struct EpisodeGeometry: Sendable {
    public struct Shape: Sendable {
        public enum Kind: Sendable { case circle(radius: Double), polygon, polyline(closed: Bool) }
        public var body: Int
        public var kind: Kind
        /// Points in the body frame (circle: the centre).
        public var points: [SIMD2<Double>]
        public var sensor: Bool
    }
    public var shapes: [Shape] = []
    public var goal: SIMD2<Double>?
    /// Initial pose (x, y, angle) of every body, in declaration order.
    public var initialPoses: [SIMD3<Double>] = []
    public var track: (left: [SIMD2<Double>], right: [SIMD2<Double>], centre: [SIMD2<Double>])?
}

extension World {
    /// Builds the Box2D world for an episode: every per-episode draw comes from the episode
    /// generator in declaration order (track, bodies and their shapes, goal, wind phases).
    func build(seed: UInt64) throws(WorldError) {
        let spec = compiled.resolved
        episodeSeed = seed
        var rng = SeededGenerator(seed: SplitMix64.mix(program.task.identity, seed), stream: RandomStream.episode)
        var config = msp_world_config()
        config.gravity_x = Float(spec.simulation.gravity[0].sample(&rng))
        config.gravity_y = Float(spec.simulation.gravity[1].sample(&rng))
        config.dt = Float(spec.simulation.timestep.sample(&rng))
        config.velocity_iterations = Int32(spec.simulation.velocityIterations)
        config.position_iterations = Int32(spec.simulation.positionIterations)
        config.substeps = Int32(spec.simulation.substeps)
        config.allow_sleep = spec.simulation.allowSleep ? 1 : 0
        msp_world_clear(handle, &config, rng.next())
        if recordsGeometry { geometry = EpisodeGeometry() }

        if let t = spec.track {
            let generated = Track.generate(t, rng: &rng)
            track = generated
            if recordsGeometry {
                let e = generated.edges()
                geometry.track = (e.left, e.right, generated.points)
            }
        } else {
            track = nil
        }
        trackHint = -1
        trackArc = 0

        // Bodies.
        poses.removeAll(keepingCapacity: true)
        bodyIndex.removeAll(keepingCapacity: true)
        for (bi, b) in spec.bodies.enumerated() {
            var def = msp_body_def()
            def.type = b.type == .static ? Int32(MSP_BODY_STATIC) : b.type == .kinematic ? Int32(MSP_BODY_KINEMATIC) : Int32(MSP_BODY_DYNAMIC)
            var x = b.position[0].sample(&rng), y = b.position[1].sample(&rng), angle = b.angle.sample(&rng)
            if b.placeOnTrack, let track {
                let start = track.startPose
                x = start.x; y = start.y; angle = start.angle
            }
            def.x = Float(x); def.y = Float(y); def.angle = Float(angle)
            def.vx = Float(b.velocity[0].sample(&rng)); def.vy = Float(b.velocity[1].sample(&rng))
            def.angular_velocity = Float(b.angularVelocity.sample(&rng))
            def.linear_damping = Float(b.linearDamping.sample(&rng))
            def.angular_damping = Float(b.angularDamping.sample(&rng))
            def.gravity_scale = Float(b.gravityScale.sample(&rng))
            def.fixed_rotation = b.fixedRotation ? 1 : 0
            def.bullet = b.bullet ? 1 : 0
            def.allow_sleep = b.allowSleep ? 1 : 0
            def.awake = 1
            def.tracked = b.type == .static ? 0 : 1
            let index = msp_body_add(handle, &def)
            guard index >= 0 else { throw physicsError(b.origin, "Box2D refused the body (code \(index))") }
            bodyIndex.append(index)
            poses.append(SIMD3(x, y, angle))
            for shape in b.shapes {
                try addShape(shape, body: index, bodyNumber: bi, rng: &rng)
            }
        }
        for (bi, b) in spec.bodies.enumerated() {
            if let f = b.initialForce {
                let fx = f[0].sample(&rng), fy = f[1].sample(&rng)
                let torque = b.initialTorque?.sample(&rng) ?? 0
                _ = msp_body_apply_force(handle, bodyIndex[bi], Float(fx), Float(fy), Float(torque))
            } else if let t = b.initialTorque {
                _ = msp_body_apply_force(handle, bodyIndex[bi], 0, 0, Float(t.sample(&rng)))
            }
        }

        // Joints.
        let bodyNumber = Dictionary(uniqueKeysWithValues: spec.bodies.enumerated().map { ($1.name, $0) })
        for j in spec.joints {
            let a = bodyNumber[j.bodyA]!, b = bodyNumber[j.bodyB]!
            var def = msp_joint_def()
            switch j.type {
            case .revolute: def.type = Int32(MSP_JOINT_REVOLUTE)
            case .prismatic: def.type = Int32(MSP_JOINT_PRISMATIC)
            case .wheel: def.type = Int32(MSP_JOINT_WHEEL)
            case .weld: def.type = Int32(MSP_JOINT_WELD)
            case .distance: def.type = Int32(MSP_JOINT_DISTANCE)
            }
            def.body_a = bodyIndex[a]
            def.body_b = bodyIndex[b]
            if let w = j.worldAnchor {
                let p = SIMD2(w[0].sample(&rng), w[1].sample(&rng))
                let la = toLocal(p, poses[a]), lb = toLocal(p, poses[b])
                def.anchor_a_x = Float(la.x); def.anchor_a_y = Float(la.y)
                def.anchor_b_x = Float(lb.x); def.anchor_b_y = Float(lb.y)
            } else {
                if let aa = j.anchorA { def.anchor_a_x = Float(aa[0].sample(&rng)); def.anchor_a_y = Float(aa[1].sample(&rng)) }
                if let ab = j.anchorB { def.anchor_b_x = Float(ab[0].sample(&rng)); def.anchor_b_y = Float(ab[1].sample(&rng)) }
            }
            def.axis_x = Float(j.axis[0].sample(&rng)); def.axis_y = Float(j.axis[1].sample(&rng))
            if let r = j.referenceAngle { def.reference_angle = Float(r.sample(&rng)); def.use_reference_angle = 1 }
            def.collide_connected = j.collideConnected ? 1 : 0
            if let l = j.limits {
                def.enable_limit = 1
                def.lower = Float(l[0].sample(&rng)); def.upper = Float(l[1].sample(&rng))
            }
            if let speed = j.motorSpeed {
                def.enable_motor = 1
                def.motor_speed = Float(speed.sample(&rng))
                def.max_motor_torque = Float(j.maxMotorEffort?.sample(&rng) ?? 0)
            }
            def.length = Float(j.length?.sample(&rng) ?? 0)
            def.frequency_hz = Float(j.frequency?.sample(&rng) ?? 0)
            def.damping_ratio = Float(j.dampingRatio?.sample(&rng) ?? 0)
            def.stiffness = Float(j.stiffness?.sample(&rng) ?? 0)
            def.damping = Float(j.damping?.sample(&rng) ?? 0)
            let r = msp_joint_add(handle, &def)
            guard r >= 0 else { throw physicsError(j.origin, "Box2D refused the joint (code \(r))") }
        }

        // Actuators, then one external actuator per disturbance.
        let jointNumber = Dictionary(uniqueKeysWithValues: spec.joints.enumerated().map { ($1.name, $0) })
        for a in spec.actions.actuators {
            var def = msp_actuator_def()
            def.body = a.body.flatMap { bodyNumber[$0] }.map { bodyIndex[$0] } ?? -1
            def.joint = a.joint.flatMap { jointNumber[$0] }.map(Int32.init) ?? -1
            def.max_speed = Float(a.maxSpeed.sample(&rng))
            def.max_effort = Float(a.maxEffort.sample(&rng))
            switch a.type {
            case .motor:
                def.type = a.mode == .torque ? Int32(MSP_ACT_MOTOR_TORQUE) : Int32(MSP_ACT_MOTOR_VELOCITY)
            case .force:
                def.type = Int32(MSP_ACT_FORCE)
                def.point_x = Float(a.point[0].sample(&rng)); def.point_y = Float(a.point[1].sample(&rng))
                var dx = a.direction[0].sample(&rng), dy = a.direction[1].sample(&rng)
                let n = max((dx * dx + dy * dy).squareRoot(), 1e-12)
                dx /= n; dy /= n
                def.direction_x = Float(dx); def.direction_y = Float(dy)
                def.world_frame = a.worldFrame ? 1 : 0
            case .thruster:
                def.type = Int32(MSP_ACT_THRUSTER)
                def.power = Float(a.power.sample(&rng))
                def.nozzle_x = Float(a.nozzle[0].sample(&rng)); def.nozzle_y = Float(a.nozzle[1].sample(&rng))
                def.mount_x = Float(a.mount[0].sample(&rng)); def.mount_y = Float(a.mount[1].sample(&rng))
                def.dispersion_x = Float(a.dispersion[0].sample(&rng)); def.dispersion_y = Float(a.dispersion[1].sample(&rng))
                def.deadzone = Float(a.deadzone.sample(&rng))
                def.throttle_min = Float(a.throttle[0].sample(&rng)); def.throttle_max = Float(a.throttle[1].sample(&rng))
                def.throttle_curve = a.throttleCurve == "clip" ? Int32(MSP_THROTTLE_CLIP) : Int32(MSP_THROTTLE_AFFINE)
                def.bidirectional = a.bidirectional ? 1 : 0
            case .vehicle:
                def.type = Int32(MSP_ACT_VEHICLE)
                func v(_ key: String, _ fallback: Double) -> Float { Float(a.vehicle[key]?.sample(&rng) ?? fallback) }
                // Defaults: Gymnasium car_dynamics.py at SIZE = 0.02 (its car is about 4.6 m long).
                def.wheelbase_front = v("wheelbase_front", 1.6)
                def.wheelbase_rear = v("wheelbase_rear", 1.2)
                def.track_half_width = v("track_half_width", 0.8)
                def.wheel_radius = v("wheel_radius", 0.54)
                def.wheel_inertia = v("wheel_inertia", 1.6)
                def.engine_power = v("engine_power", 40_000)
                def.brake_strength = v("brake_strength", 750)
                def.max_steer = v("max_steer", 0.4)
                def.steer_rate = v("steer_rate", 3)
                def.tyre_stiffness = v("tyre_stiffness", 82)
                def.friction_limit = v("friction_limit", 400)
                def.friction = v("friction", 1)
                def.steer_offset = v("steer_offset", 0)
                def.steer_sign = v("steer_sign", 1)
                def.drive_wheels = a.driveWheels == "front" ? 1 : a.driveWheels == "all" ? 2 : 0
            case .planarVelocity:
                def.type = Int32(MSP_ACT_PLANAR_VELOCITY)
            }
            let r = msp_actuator_add(handle, &def)
            guard r >= 0 else { throw physicsError(a.origin, "Box2D refused the actuator (code \(r))") }
        }
        windIndex.removeAll(keepingCapacity: true)
        for d in spec.disturbances {
            var def = msp_actuator_def()
            def.type = Int32(MSP_ACT_EXTERNAL)
            def.body = bodyIndex[bodyNumber[d.body]!]
            _ = msp_actuator_add(handle, &def)
            if d.type == .wind {
                windIndex.append(rng.integer(-9999, 9999))
                windIndex.append(rng.integer(-9999, 9999))
            } else {
                windIndex.append(0); windIndex.append(0)
            }
        }

        // Sensors: lidars, one contact flag per dynamic body, then the observation contact flags.
        for o in spec.observations where o.type == .lidar {
            var angles = o.angles.map { Float($0.sample(&rng)) }
            var def = msp_lidar_def()
            def.body = bodyIndex[bodyNumber[o.body!]!]
            def.origin_x = Float(o.origin2[0].sample(&rng)); def.origin_y = Float(o.origin2[1].sample(&rng))
            def.body_frame = o.frame == "body" ? 1 : 0
            def.ray_count = Int32(angles.count)
            def.range = Float(o.range.sample(&rng))
            def.mask_bits = o.mask
            let r = angles.withUnsafeMutableBufferPointer { buffer in
                def.angles = UnsafePointer(buffer.baseAddress)
                return msp_lidar_add(handle, &def)
            }
            guard r >= 0 else { throw physicsError(o.origin, "Box2D refused the lidar (code \(r))") }
        }
        for bi in compiled.dynamicBodies {
            _ = msp_contact_sensor_add(handle, bodyIndex[bi], 0xFFFF)
        }
        for o in spec.observations where o.type == .contact {
            let sensor = msp_contact_sensor_add(handle, bodyIndex[bodyNumber[o.body!]!], o.mask)
            if o.lastEvent, sensor >= 0 { _ = msp_contact_sensor_use_last_event(handle, sensor) }
        }

        if let g = spec.goal {
            goal = SIMD2(g.position[0].sample(&rng), g.position[1].sample(&rng))
            goalAngle = g.angle?.sample(&rng) ?? 0
            if recordsGeometry { geometry.goal = goal }
        }

        if recordsGeometry { geometry.initialPoses = poses }
        msp_world_ready(handle)
        layout = msp_state_layout_get(handle)
        reallocateState(Int(layout.size))
        msp_world_read_state(handle, state.baseAddress)
        if let base = compiled.trackBase { for k in 0..<5 { signals[base + k] = 0 } }
        signals[compiled.tSlot] = 0
        updateSignals()
        if let base = compiled.trackBase { signals[base + 4] = 0; signals[base] = 0 }
        computeObservations()
        primePotentials()
        episodeReady = true
    }

    private func addShape(_ shape: ShapeSpec, body: Int32, bodyNumber: Int, rng: inout SeededGenerator) throws(WorldError) {
        var def = msp_fixture_def()
        def.density = Float(shape.material.density.sample(&rng))
        def.friction = Float(shape.material.friction.sample(&rng))
        def.restitution = Float(shape.material.restitution.sample(&rng))
        def.category_bits = shape.material.category
        def.mask_bits = shape.material.mask
        def.group_index = shape.material.group
        def.is_sensor = shape.material.sensor ? 1 : 0

        func add(_ kind: Int32, _ points: [Float], radius: Float = 0) throws(WorldError) {
            var d = def
            d.shape = kind
            d.radius = radius
            d.point_count = Int32(points.count / 2)
            let r = points.withUnsafeBufferPointer { buffer in
                d.points = buffer.baseAddress
                return msp_fixture_add(handle, body, &d)
            }
            guard r >= 0 else {
                throw physicsError(shape.origin, r == MSP_ERR_BAD_GEOMETRY ? "degenerate geometry for this episode" : "Box2D refused the shape (code \(r))")
            }
            if recordsGeometry {
                let pts = stride(from: 0, to: points.count, by: 2).map { SIMD2(Double(points[$0]), Double(points[$0 + 1])) }
                let k: EpisodeGeometry.Shape.Kind = kind == MSP_SHAPE_CIRCLE ? .circle(radius: Double(radius))
                    : kind == MSP_SHAPE_POLYGON ? .polygon : .polyline(closed: kind == MSP_SHAPE_LOOP)
                geometry.shapes.append(.init(body: bodyNumber, kind: k, points: pts, sensor: shape.material.sensor))
            }
        }
        func flat(_ pts: [[Scalar]]) -> [Float] {
            var out: [Float] = []
            for p in pts { out.append(Float(p[0].sample(&rng))); out.append(Float(p[1].sample(&rng))) }
            return out
        }

        switch shape.geometry {
        case .box(let half, let center, let angle):
            let hx = half[0].sample(&rng), hy = half[1].sample(&rng)
            let cx = center[0].sample(&rng), cy = center[1].sample(&rng), a = angle.sample(&rng)
            let c = cos(a), s = sin(a)
            var pts: [Float] = []
            for (px, py) in [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)] {
                pts.append(Float(cx + c * px - s * py)); pts.append(Float(cy + s * px + c * py))
            }
            try add(Int32(MSP_SHAPE_POLYGON), pts)
        case .circle(let radius, let center):
            let r = radius.sample(&rng)
            try add(Int32(MSP_SHAPE_CIRCLE), [Float(center[0].sample(&rng)), Float(center[1].sample(&rng))], radius: Float(r))
        case .polygon(let points):
            try add(Int32(MSP_SHAPE_POLYGON), flat(points))
        case .edge(let points):
            try add(Int32(MSP_SHAPE_EDGE), flat(points))
        case .chain(let points, let loop):
            try add(loop ? Int32(MSP_SHAPE_LOOP) : Int32(MSP_SHAPE_CHAIN), flat(points))
        case .terrain(let t):
            let program = self.program
            TerrainGenerator.generate(t, rng: &rng, parameters: { program.parameter($0) }, into: &terrainScratch)
            if t.asChain {
                // Box2D 2.4 chains collide on the right of their direction: run right to left so
                // the ground is solid from above.
                var reversed: [Float] = []
                reversed.reserveCapacity(terrainScratch.count)
                for i in stride(from: terrainScratch.count - 2, through: 0, by: -2) {
                    reversed.append(terrainScratch[i]); reversed.append(terrainScratch[i + 1])
                }
                try add(Int32(MSP_SHAPE_CHAIN), reversed)
            } else {
                // One edge fixture per segment, as Gymnasium builds its terrains.
                let pts = terrainScratch
                var i = 0
                while i + 3 < pts.count {
                    try add(Int32(MSP_SHAPE_EDGE), [pts[i], pts[i + 1], pts[i + 2], pts[i + 3]])
                    i += 2
                }
            }
        case .trackEdges:
            guard let track else { return }
            let edges = track.edges()
            for side in [edges.left, edges.right] {
                var pts: [Float] = []
                for p in side { pts.append(Float(p.x)); pts.append(Float(p.y)) }
                try add(track.closed ? Int32(MSP_SHAPE_LOOP) : Int32(MSP_SHAPE_CHAIN), pts)
            }
        }
    }

    private func toLocal(_ p: SIMD2<Double>, _ pose: SIMD3<Double>) -> SIMD2<Double> {
        let dx = p.x - pose.x, dy = p.y - pose.y, c = cos(pose.z), s = sin(pose.z)
        return SIMD2(c * dx + s * dy, -s * dx + c * dy)
    }

    private func physicsError(_ origin: Origin, _ message: String) -> WorldError {
        WorldError.physics(origin.diagnostic(message))
    }
}
