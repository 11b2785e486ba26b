import MetaSimYAML

/// A world file, parsed and validated: everything needed to instantiate worlds of its family.
/// Documented field by field in docs/worlds.md.
public struct WorldDefinition: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case robot, driving }

    public var name: String
    public var kind: Kind
    public var description: String
    /// The file it came from (as given), and a hash of its bytes (for checkpoints and caches).
    public var file: String
    public var fileHash: UInt64

    /// Task family: parameters in declaration order. A parameter with a fixed value is a constant.
    public var parameters: [Parameter]
    public var simulation: SimulationSpec
    public var bodies: [BodySpec]
    public var joints: [JointSpec]
    public var actions: ActionSpec
    public var observations: [SensorSpec]
    public var goal: GoalSpec?
    public var track: TrackSpec?
    public var disturbances: [DisturbanceSpec]
    public var reward: [RewardTermSpec]
    public var termination: [TerminationSpec]
    public var episode: EpisodeSpec
    /// The raster camera (`render:`): frame size, scale, centre or followed body; metadata only.
    public var render = RenderSpec()
    /// The file position of every value, by key path (for errors found after parsing).
    public var marks: [String: YAMLMark] = [:]
    /// The file of a value in `marks` written in another file than `file` (a variant's base).
    public var markFiles: [String: String] = [:]

    /// Family parameters that vary between tasks (not constants).
    public var familyParameters: [Parameter] { parameters.filter { $0.isRandom } }
}

public struct Parameter: Sendable {
    public var name: String
    public var value: Scalar
    /// The value of the nominal task (default: the distribution's centre).
    public var nominal: Scalar?
    public var doc: String
    public var isRandom: Bool { value.isRandom }
}

public struct SimulationSpec: Sendable {
    public var timestep: Scalar
    public var velocityIterations: Int
    public var positionIterations: Int
    public var substeps: Int
    public var gravity: [Scalar]
    public var allowSleep: Bool
}

extension SimulationSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.one(\.timestep), .list(\.gravity)]
    }
}

public struct EpisodeSpec: Sendable {
    /// Steps after which the episode is truncated (0: none).
    public var horizon: Int
    /// No-op steps taken inside reset (Gymnasium's Box2D envs step once in reset()).
    public var resetSteps: Int
    /// The action used for reset steps (default all zeros / index 0).
    public var resetAction: [Double]?
    /// The episode return at which the task counts as solved (Gymnasium's `reward_threshold`);
    /// metadata only: it changes no step.
    public var rewardThreshold: Double? = nil
}

public struct BodySpec: Sendable {
    public enum BodyType: String, Sendable { case `static`, kinematic, dynamic }
    public var name: String
    public var origin: Origin
    public var type: BodyType
    public var position: [Scalar]
    public var angle: Scalar
    public var velocity: [Scalar]
    public var angularVelocity: Scalar
    public var linearDamping: Scalar
    public var angularDamping: Scalar
    public var gravityScale: Scalar
    public var fixedRotation: Bool
    public var bullet: Bool
    public var allowSleep: Bool
    /// Placed at the start of the track, facing along it (driving worlds), instead of `position`/`angle`.
    public var placeOnTrack: Bool
    /// A one-off force and torque applied in the first step (LunarLander's initial push).
    public var initialForce: [Scalar]?
    public var initialTorque: Scalar?
    public var shapes: [ShapeSpec]
}

extension BodySpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.list(\.position), .one(\.angle), .list(\.velocity), .one(\.angularVelocity), .one(\.linearDamping),
         .one(\.angularDamping), .one(\.gravityScale), .optionalList(\.initialForce), .optional(\.initialTorque)]
    }
}

public struct Material: Sendable {
    public var density: Scalar
    public var friction: Scalar
    public var restitution: Scalar
    public var category: UInt16
    public var mask: UInt16
    public var group: Int16
    public var sensor: Bool
}

extension Material: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.one(\.density), .one(\.friction), .one(\.restitution)]
    }
}

public struct ShapeSpec: Sendable {
    public enum Geometry: Sendable {
        case box(halfExtents: [Scalar], center: [Scalar], angle: Scalar)
        case circle(radius: Scalar, center: [Scalar])
        case polygon(points: [[Scalar]])
        case edge(points: [[Scalar]])
        case chain(points: [[Scalar]], loop: Bool)
        case terrain(TerrainSpec)
        /// The edges of the world's track (`track:`), as sensor or solid chains.
        case trackEdges
    }
    public var geometry: Geometry
    public var material: Material
    public var origin: Origin
}

/// A procedural height profile, regenerated every episode from the episode seed.
public struct TerrainSpec: Sendable {
    public enum Generator: String, Sendable {
        /// LunarLander: `chunks` random heights, a flat pad, 3-point smoothing.
        case smoothedChunks = "smoothed-chunks"
        /// BipedalWalker: a damped random walk of the slope pulled toward a base height.
        case randomWalk = "random-walk"
        /// A deterministic function y = f(x) given as an expression of `x` (a hill).
        case function
    }
    public var generator: Generator
    public var start: Scalar           // x of the first point
    public var end: Scalar             // smoothed-chunks: x of the last point
    public var step: Scalar            // random-walk, function: x spacing
    public var count: Scalar           // smoothed-chunks: chunks; random-walk, function: points
    public var height: Scalar          // smoothed-chunks: per-chunk draw; random-walk: base height
    public var flatFrom: Scalar?       // smoothed-chunks: first flattened chunk index
    public var flatTo: Scalar?         // smoothed-chunks: last flattened chunk index
    public var flatHeight: Scalar?
    public var smoothing: Scalar       // smoothed-chunks: weight of the 3-point average
    public var startPad: Scalar        // random-walk: points before noise starts
    public var roughness: Scalar       // random-walk: slope noise amplitude (per point)
    public var damping: Scalar         // random-walk: slope damping (0.8)
    public var pull: Scalar            // random-walk: pull toward the base height (0.01)
    public var segmentLength: Scalar   // random-walk: points before a new random grass length... (see docs)
    public var function: Expression?   // function: y(x)
    /// Build the profile as separate edge fixtures (Gymnasium) or one chain.
    public var asChain: Bool
}

extension TerrainSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.one(\.start), .one(\.end), .one(\.step), .one(\.count), .one(\.height), .optional(\.flatFrom),
         .optional(\.flatTo), .optional(\.flatHeight), .one(\.smoothing), .one(\.startPad), .one(\.roughness),
         .one(\.damping), .one(\.pull), .one(\.segmentLength)]
    }
}

public struct JointSpec: Sendable {
    public enum JointType: String, Sendable { case revolute, prismatic, wheel, weld, distance }
    public var name: String
    public var origin: Origin
    public var type: JointType
    public var bodyA: String
    public var bodyB: String
    /// Anchors in each body's frame; or one world anchor (both computed from the initial poses).
    public var anchorA: [Scalar]?
    public var anchorB: [Scalar]?
    public var worldAnchor: [Scalar]?
    public var axis: [Scalar]
    public var referenceAngle: Scalar?
    public var collideConnected: Bool
    public var limits: [Scalar]?
    public var motorSpeed: Scalar?
    public var maxMotorEffort: Scalar?
    public var length: Scalar?
    public var frequency: Scalar?
    public var dampingRatio: Scalar?
    public var stiffness: Scalar?
    public var damping: Scalar?
}

extension JointSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.optionalList(\.anchorA), .optionalList(\.anchorB), .optionalList(\.worldAnchor), .list(\.axis),
         .optional(\.referenceAngle), .optionalList(\.limits), .optional(\.motorSpeed), .optional(\.maxMotorEffort),
         .optional(\.length), .optional(\.frequency), .optional(\.dampingRatio), .optional(\.stiffness),
         .optional(\.damping)]
    }
}

public struct ActionSpec: Sendable {
    public var actuators: [ActuatorSpec]
    /// Discrete action set: index -> continuous action vector (one value per action entry).
    public var discrete: [[Double]]?
}

public struct ActuatorSpec: Sendable {
    public enum ActuatorType: String, Sendable {
        case motor, force, thruster, vehicle
        case planarVelocity = "planar-velocity"
    }
    public enum MotorMode: String, Sendable { case torque, velocity }
    public var name: String
    public var origin: Origin
    public var type: ActuatorType
    public var body: String?
    public var joint: String?
    public var mode: MotorMode
    /// Action bounds per entry (motor/force/thruster: 1, planar: 2, vehicle: 3).
    public var low: [Double]
    public var high: [Double]
    /// The command the actuator acts on is `gain` × the (clipped) action (literal, > 0; 1: the action).
    public var gain: Double = 1
    public var maxSpeed: Scalar
    public var maxEffort: Scalar
    public var point: [Scalar]
    public var direction: [Scalar]
    public var worldFrame: Bool
    // Thruster
    public var power: Scalar
    public var nozzle: [Scalar]
    public var mount: [Scalar]
    public var dispersion: [Scalar]
    public var deadzone: Scalar
    public var throttle: [Scalar]
    public var throttleCurve: String
    public var bidirectional: Bool
    // Vehicle
    public var vehicle: [String: Scalar]
    public var driveWheels: String

    /// Names of the action entries this actuator contributes.
    public var entryNames: [String] {
        switch type {
        case .vehicle: return ["\(name).steer", "\(name).throttle", "\(name).brake"]
        case .planarVelocity: return ["\(name).x", "\(name).y"]
        default: return [name]
        }
    }
}

extension ActuatorSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.one(\.maxSpeed), .one(\.maxEffort), .list(\.point), .list(\.direction), .one(\.power), .list(\.nozzle),
         .list(\.mount), .list(\.dispersion), .one(\.deadzone), .list(\.throttle), .named(\.vehicle)]
    }
}

public struct SensorSpec: Sendable {
    public enum SensorType: String, Sendable {
        case position, angle, velocity
        case angularVelocity = "angular-velocity"
        case jointAngle = "joint-angle"
        case jointSpeed = "joint-speed"
        case lidar, contact
        case goalVector = "goal-vector"
        case goalDistance = "goal-distance"
        case track
        case expression
    }
    public var name: String
    public var origin: Origin
    public var type: SensorType
    public var body: String?
    public var joint: String?
    /// position, velocity: "x", "y" or "xy"; track: progress | lateral | heading | speed | curvature.
    public var quantity: String
    /// velocity, goal-vector: "world" or "body"; lidar: "world" or "body".
    public var frame: String
    /// angle, joint-angle: "angle" or "cos-sin".
    public var encoding: String
    public var scale: Scalar
    public var offset: Scalar
    public var low: Scalar
    public var high: Scalar
    public var clip: Bool
    // lidar
    public var rays: Int
    public var angles: [Scalar]
    public var range: Scalar
    public var origin2: [Scalar]
    public var mask: UInt16
    /// contact: report the last contact event (Gymnasium's `ground_contact`) instead of touching now.
    public var lastEvent: Bool = false
    // expression
    public var expression: Expression?
    public var lookahead: Scalar

    /// Entry count in the observation vector.
    public var width: Int {
        switch type {
        case .lidar: return rays
        case .goalVector: return 2
        case .position, .velocity: return quantity == "xy" ? 2 : 1
        case .angle, .jointAngle: return encoding == "cos-sin" ? 2 : 1
        default: return 1
        }
    }

    public var entryNames: [String] {
        switch type {
        case .lidar: return (0..<rays).map { "\(name)_\($0)" }
        case .goalVector: return ["\(name)_x", "\(name)_y"]
        case .position where quantity == "xy", .velocity where quantity == "xy": return ["\(name)_x", "\(name)_y"]
        case .angle where encoding == "cos-sin", .jointAngle where encoding == "cos-sin": return ["\(name)_cos", "\(name)_sin"]
        default: return [name]
        }
    }
}

extension SensorSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.one(\.scale), .one(\.offset), .one(\.low), .one(\.high), .list(\.angles), .one(\.range), .list(\.origin2),
         .one(\.lookahead)]
    }
}

public struct GoalSpec: Sendable {
    public var position: [Scalar]
    public var angle: Scalar?
    public var radius: Scalar
    public var angleTolerance: Scalar?
    public var origin: Origin
}

extension GoalSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.list(\.position), .optional(\.angle), .one(\.radius), .optional(\.angleTolerance)]
    }
}

/// A procedural road: a closed loop (racing) or an open curved road (lane keeping).
public struct TrackSpec: Sendable {
    public enum Generator: String, Sendable {
        /// CarRacing-style: checkpoints at random radii around a circle, smoothed into a loop.
        case loop
        /// A long road of piecewise-constant curvature drawn from `curvature`.
        case road
    }
    public var generator: Generator
    public var width: Scalar
    public var checkpoints: Scalar
    public var radius: [Scalar]
    public var spacing: Scalar
    public var length: Scalar
    public var curvature: Scalar
    public var segmentLength: Scalar
    /// Category bits of the edge chains built by `track-edges` shapes.
    public var origin: Origin
}

extension TrackSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.one(\.width), .one(\.checkpoints), .list(\.radius), .one(\.spacing), .one(\.length), .one(\.curvature),
         .one(\.segmentLength)]
    }
}

public struct DisturbanceSpec: Sendable {
    public enum DisturbanceType: String, Sendable {
        /// LunarLander's wind and turbulence: tanh(sin(0.02 k) + sin(0.01 pi k)) * power, k from a
        /// random phase, advancing only while `pause` is false.
        case wind
        /// A force and torque given as expressions of the step variables.
        case force
    }
    public var name: String
    public var origin: Origin
    public var type: DisturbanceType
    public var body: String
    public var power: Scalar
    public var turbulence: Scalar
    public var pause: Expression?
    public var force: [Expression]
    public var torque: Expression?
    public var when: Expression?
}

extension DisturbanceSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.one(\.power), .one(\.turbulence)]
    }
}

public struct RewardTermSpec: Sendable {
    public enum TermType: String, Sendable {
        case expression, potential, progress, distance, alive
        case actionCost = "action-cost"
        case speedTracking = "speed-tracking"
        case contact
    }
    public var name: String
    public var origin: Origin
    public var type: TermType
    public var weight: Scalar
    public var expression: Expression?
    public var body: String?
    public var axis: String
    public var target: [Scalar]
    public var norm: String
    public var useTrack: Bool
}

extension RewardTermSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.one(\.weight), .list(\.target)]
    }
}

public struct TerminationSpec: Sendable {
    public enum Condition: Sendable {
        case contact(body: String)
        case outOfBounds(body: String, x: [Scalar]?, y: [Scalar]?)
        case asleep(body: String)
        case goalReached(body: String)
        case offTrack(body: String, margin: Scalar)
        case expression(Expression)
    }
    public var name: String
    public var origin: Origin
    public var condition: Condition
    /// Truncation (time-out like) instead of termination.
    public var truncate: Bool
    public var reward: Scalar?
    /// "replace" (Gymnasium's `reward = -100`) or "add".
    public var rewardMode: String
}

extension TerminationSpec: ScalarFields {
    static var scalarFields: [ScalarField<Self>] {
        [.optional(\.reward)]
    }
}
