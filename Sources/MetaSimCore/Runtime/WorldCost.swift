import Foundation
import MetaSimYAML

/// What instances of one task will cost, estimated from the resolved world before anything is
/// built: bodies, fixtures, terrain and track points, the bytes one instance holds, and the
/// Box2D substeps a reset runs. `WorldProgram` computes it (and refuses a world beyond the
/// format's limits); the daemon compares it, times the batch, with its memory and step budgets.
///
/// The byte model is linear in the counts, with coefficients from Box2D 2.4.1's object sizes
/// (b2World with its 100 KiB stack allocator, b2Body 184 B, b2Fixture 80 B, shapes 24-160 B,
/// a proxy and two broad-phase tree nodes per fixture child, block-allocator chunks of 16 KiB)
/// and calibrated against resident memory measured with `metasim bench --memory N` (which
/// prints the estimate next to the measurement). It errs on the high side.
public struct WorldCost: Sendable, Equatable {
    /// Bodies, static ones included.
    public var bodies = 0
    /// Fixtures (a chain counts once; each edge of an edge-built terrain counts).
    public var fixtures = 0
    /// Chain vertices (chains, chain-built terrains, the two track edges).
    public var chainVertices = 0
    public var joints = 0
    /// Points of all terrain profiles.
    public var terrainPoints = 0
    /// Centre-line points of the track (an upper bound for a loop).
    public var trackPoints = 0
    /// Estimated resident bytes of one instance.
    public var bytesPerInstance = 0
    /// Box2D substeps one instance's reset runs (reset_steps × substeps).
    public var resetSubsteps = 0

    // Calibrated coefficients (bytes); see the type's documentation and docs/operations.md.
    // Measured (debug build, `metasim bench --memory N --json`, resident KiB per instance):
    // cartpole 130, lunar-lander 138, bipedal-walker 189 (200 terrain edges), bipedal-walker
    // with TERRAIN_LENGTH=5000 2015 (about 380 B per edge fixture and point), track-racer with
    // radii 1000 1478 (about 430 B per centre-line point with its two edge vertices), cartpole
    // plus 2000 static boxes 1452 (about 660 B per body with its box).
    static let baseBytes = 144 * 1024
    static let bodyBytes = 300
    static let fixtureBytes = 400
    static let chainVertexBytes = 200
    static let jointBytes = 640
    static let terrainPointBytes = 16
    static let trackPointBytes = 48

    /// Estimated bytes of `instances` instances (saturating: never overflows).
    public func bytes(instances: Int) -> Int { Self.saturating(bytesPerInstance, times: instances) }

    /// Box2D substeps a reset of `instances` instances runs (saturating).
    public func resetWork(instances: Int) -> Int { Self.saturating(resetSubsteps, times: instances) }

    /// `perInstance × instances` (a negative count as 0), `Int.max` where it would overflow.
    private static func saturating(_ perInstance: Int, times instances: Int) -> Int {
        let (p, overflow) = perInstance.multipliedReportingOverflow(by: max(instances, 0))
        return overflow ? Int.max : p
    }

    /// Estimates the cost of a resolved world (`WorldProgram.resolved`). Throws when a derived
    /// count is beyond `WorldLimits` (a track of more than a million points) or one instance
    /// would need more than `WorldLimits.maxInstanceBytes`.
    init(resolved spec: WorldDefinition) throws(WorldError) {
        var fixtures = 0.0, chainVertices = 0.0, terrainPoints = 0.0, trackPoints = 0.0
        func upper(_ s: Scalar) -> Double {
            if let v = s.literalValue { return v }
            if case .random(let d) = s.kind, let r = d.support { return r.upperBound }
            return 0
        }
        func lower(_ s: Scalar) -> Double {
            if let v = s.literalValue { return v }
            if case .random(let d) = s.kind, let r = d.support { return r.lowerBound }
            return 0
        }

        if let t = spec.track {
            let spacing = max(0.1, lower(t.spacing))
            let points: Double
            switch t.generator {
            case .loop:
                // Σ chords ≤ 2π r_max + n |r1 - r0| (the angles go round once); each chord gives
                // round(chord / spacing) points, at least one.
                let n = max(4, upper(t.checkpoints).rounded(.towardZero))
                let r0 = t.radius.count == 2 ? upper(t.radius[0]) : 0, r1 = t.radius.count == 2 ? upper(t.radius[1]) : 0
                let rmax = max(abs(r0), abs(r1)), spread = abs(r1 - r0)
                points = (2 * Double.pi * rmax + n * spread) / spacing + n
            case .road:
                points = (upper(t.length) / spacing).rounded(.up) + 1
            }
            guard points.isFinite, points <= Double(WorldLimits.maxTrackPoints) else {
                throw WorldError.invalid([t.origin.diagnostic(
                    "the track would have up to \(formatNumber(points.rounded(.up))) centre-line points, more than the "
                    + "limit of \(WorldLimits.maxTrackPoints) (\(Self.trackText(t, upper)))")])
            }
            trackPoints = points
        }

        for b in spec.bodies {
            for shape in b.shapes {
                switch shape.geometry {
                case .box, .circle, .polygon, .edge:
                    fixtures += 1
                case .chain(let points, _):
                    fixtures += 1
                    chainVertices += Double(points.count)
                case .terrain(let t):
                    let n = min(max(2, upper(t.count).rounded(.towardZero)), Double(WorldLimits.maxTerrainPoints))
                    terrainPoints += n
                    if t.asChain {
                        fixtures += 1
                        chainVertices += n
                    } else {
                        fixtures += n - 1
                    }
                case .trackEdges:
                    fixtures += 2
                    chainVertices += 2 * trackPoints
                }
            }
        }
        let bodies = Double(spec.bodies.count), joints = Double(spec.joints.count)
        let perInstance = Double(Self.baseBytes) + bodies * Double(Self.bodyBytes) + fixtures * Double(Self.fixtureBytes)
            + chainVertices * Double(Self.chainVertexBytes) + joints * Double(Self.jointBytes)
            + terrainPoints * Double(Self.terrainPointBytes) + trackPoints * Double(Self.trackPointBytes)
            + Double(spec.stepVariableNames().count) * 16
        guard perInstance <= Double(WorldLimits.maxInstanceBytes) else {
            throw WorldError.limitExceeded(
                "one instance of world '\(spec.name)' would need about \(Self.mib(perInstance)) (\(formatNumber(bodies)) bodies, "
                + "\(formatNumber(fixtures)) fixtures, \(formatNumber(chainVertices)) chain vertices), more than the "
                + "\(Self.mib(Double(WorldLimits.maxInstanceBytes))) one instance may use")
        }
        self.bodies = spec.bodies.count
        self.fixtures = Int(fixtures)
        self.chainVertices = Int(chainVertices)
        self.joints = spec.joints.count
        self.terrainPoints = Int(terrainPoints)
        self.trackPoints = Int(trackPoints)
        self.bytesPerInstance = Int(perInstance)
        self.resetSubsteps = spec.episode.resetSteps * spec.simulation.substeps
    }

    /// "12.5 MiB", "3.2 GiB".
    public static func mib(_ bytes: Double) -> String {
        if bytes >= Double(1 << 30) { return String(format: "%.1f GiB", bytes / Double(1 << 30)) }
        return String(format: "%.1f MiB", bytes / Double(1 << 20))
    }

    private static func trackText(_ t: TrackSpec, _ upper: (Scalar) -> Double) -> String {
        switch t.generator {
        case .loop:
            return "checkpoints \(formatNumber(upper(t.checkpoints))), radius \(t.radius.map { formatNumber(upper($0)) }.joined(separator: "..")), spacing \(formatNumber(upper(t.spacing)))"
        case .road:
            return "length \(formatNumber(upper(t.length))), spacing \(formatNumber(upper(t.spacing)))"
        }
    }
}
