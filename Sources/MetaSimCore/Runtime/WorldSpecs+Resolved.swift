extension WorldSpecs {
    /// The observation and action specs of a definition resolved for a task
    /// (`WorldProgram.resolved`), from the definition alone: no Box2D world is built.
    init(resolved: WorldDefinition) {
        var entries: [String] = [], low: [Double] = [], high: [Double] = []
        for o in resolved.observations {
            let names = o.entryNames
            entries += names
            low += repeatElement(Self.float32Low(o.low.literalValue ?? 0), count: names.count)
            high += repeatElement(Self.float32High(o.high.literalValue ?? 0), count: names.count)
        }
        let observation = TensorSpec(name: "observation", shape: [entries.count], dtype: .float32,
                                     low: low, high: high, entries: entries)
        if let d = resolved.actions.discrete {
            self.init(
                observation: observation,
                action: TensorSpec(name: "action", shape: [], dtype: .int32, low: [0], high: [Double(d.count - 1)], entries: ["action"]),
                discreteActions: d.count, discreteTable: d)
            return
        }
        let actuators = resolved.actions.actuators
        let actionEntries = actuators.flatMap(\.entryNames)
        // Action bounds are float32 (the step's action buffer): published as their float32 values.
        self.init(
            observation: observation,
            action: TensorSpec(name: "action", shape: [actionEntries.count], dtype: .float32,
                               low: actuators.flatMap(\.low).map { Double(Float($0)) },
                               high: actuators.flatMap(\.high).map { Double(Float($0)) }, entries: actionEntries),
            discreteActions: nil, discreteTable: nil)
    }

    // Observations are float32: publish bounds that float32 can hold, rounded inward, so a
    // clipped value is never outside its declared bound after conversion.

    /// A lower bound as the smallest float32 value at or above it (infinities kept).
    static func float32Low(_ v: Double) -> Double {
        guard v.isFinite else { return v }
        var f = Float(v)
        if Double(f) < v { f = f.nextUp }
        return Double(f)
    }

    /// An upper bound as the largest float32 value at or below it (infinities kept).
    static func float32High(_ v: Double) -> Double {
        guard v.isFinite else { return v }
        var f = Float(v)
        if Double(f) > v { f = f.nextDown }
        return Double(f)
    }
}
