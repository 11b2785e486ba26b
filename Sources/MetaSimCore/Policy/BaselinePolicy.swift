/// Baseline policies for headless runs and benchmarks: uniform random actions within the action
/// bounds (or a uniform discrete index), or all zeros (index 0 for discrete worlds).
public struct BaselinePolicy: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case random, zero }
    public let kind: Kind
    public let specs: WorldSpecs
    private var rng: SeededGenerator

    public init(_ kind: Kind, specs: WorldSpecs, seed: UInt64) {
        self.kind = kind
        self.specs = specs
        rng = SeededGenerator(seed: seed, stream: RandomStream.policy)
    }

    /// Writes one action (actionCount floats) into `out`.
    public mutating func act(into out: UnsafeMutablePointer<Float>) {
        if let n = specs.discreteActions {
            out[0] = kind == .zero ? 0 : Float(rng.integer(0, n - 1))
            return
        }
        let spec = specs.action
        for i in 0..<spec.count {
            if kind == .zero {
                out[i] = Float(min(max(0, spec.low[i]), spec.high[i]))
            } else {
                out[i] = Float(rng.uniform(spec.low[i], spec.high[i]))
            }
        }
    }

    public mutating func act() -> [Float] {
        var a = [Float](repeating: 0, count: specs.discreteActions == nil ? specs.action.count : 1)
        a.withUnsafeMutableBufferPointer { act(into: $0.baseAddress!) }
        return a
    }
}
