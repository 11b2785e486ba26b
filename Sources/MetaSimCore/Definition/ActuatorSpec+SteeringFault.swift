import MetaSimYAML

/// A vehicle's steering faults: `steer_offset` (the front wheels sit at this angle when steer is
/// 0) must leave full steering able to cancel it, |steer_offset| ≤ max_steer; `steer_sign` is 1,
/// or -1 for reversed steering. Checked when the file is read if the values are numbers, and for
/// every task once expressions are evaluated.
extension ActuatorSpec {
    /// `max_steer`'s default (World+Build's and the C library's).
    static let defaultMaxSteer = 0.4

    /// What is wrong with these vehicle keys, by key (nothing for a value that is not a number
    /// yet: an expression over parameters is checked per task).
    static func steeringProblems(_ vehicle: [String: Scalar]) -> [(key: String, problem: String)] {
        var out: [(key: String, problem: String)] = []
        if let offset = vehicle["steer_offset"]?.literalValue {
            let maxSteer = vehicle["max_steer"].map(\.literalValue) ?? defaultMaxSteer
            if let maxSteer, abs(offset) > maxSteer {
                out.append(("steer_offset", "|steer_offset| must be at most max_steer (\(formatNumber(maxSteer)) rad), found \(formatNumber(offset))"))
            }
        }
        if let sign = vehicle["steer_sign"]?.literalValue, sign != 1, sign != -1 {
            out.append(("steer_sign", "steer_sign must be 1 or -1 (reversed steering), found \(formatNumber(sign))"))
        }
        return out
    }

    /// Throws at the value's place in the file when a resolved vehicle's steering fault is out of
    /// range for this task.
    static func checkSteering(_ actuators: [ActuatorSpec]) throws(WorldError) {
        for a in actuators where a.type == .vehicle {
            let problems = steeringProblems(a.vehicle).compactMap { p in
                a.vehicle[p.key].map { $0.origin.diagnostic(p.problem + " for this task") }
            }
            if !problems.isEmpty { throw WorldError.invalid(problems) }
        }
    }
}
