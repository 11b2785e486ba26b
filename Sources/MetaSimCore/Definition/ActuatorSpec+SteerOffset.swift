import MetaSimYAML

/// A vehicle's `steer_offset` (a steering fault: the front wheels sit at this angle when steer
/// is 0) must leave full steering able to cancel it: |steer_offset| ≤ max_steer. Checked when the
/// file is read if both are numbers, and for every task once expressions are evaluated.
extension ActuatorSpec {
    /// `max_steer`'s default (World+Build's and the C library's).
    static let defaultMaxSteer = 0.4

    /// What is wrong with the offset of these vehicle keys, or nil (also when either is not a
    /// number yet: an expression over parameters is checked per task).
    static func steerOffsetProblem(_ vehicle: [String: Scalar]) -> String? {
        guard let offset = vehicle["steer_offset"]?.literalValue else { return nil }
        let maxSteer: Double
        if let m = vehicle["max_steer"] {
            guard let v = m.literalValue else { return nil }
            maxSteer = v
        } else {
            maxSteer = defaultMaxSteer
        }
        guard abs(offset) > maxSteer else { return nil }
        return "|steer_offset| must be at most max_steer (\(formatNumber(maxSteer)) rad), found \(formatNumber(offset))"
    }

    /// Throws at the offset's place in the file when a resolved vehicle's offset exceeds its
    /// max_steer for this task.
    static func checkSteerOffsets(_ actuators: [ActuatorSpec]) throws(WorldError) {
        for a in actuators where a.type == .vehicle {
            if let problem = steerOffsetProblem(a.vehicle), let offset = a.vehicle["steer_offset"] {
                throw WorldError.invalid([offset.origin.diagnostic(problem + " for this task")])
            }
        }
    }
}
