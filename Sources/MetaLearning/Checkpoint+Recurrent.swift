/// A recurrent policy's tensors (`PolicyArchitecture.recurrent`), in the order of its flat
/// parameters (`GRUNetwork`): `gru.weight_ih` [inputs, 3·hidden] and `gru.weight_hh`
/// [hidden, 3·hidden] (gates r, z, n; y = x W + b), `gru.bias_ih` and `gru.bias_hh` [3·hidden],
/// `policy_head.weight` [hidden, actions] and `policy_head.bias` [actions], `value_head.weight`
/// [hidden, 1] and `value_head.bias` [1], then `log_std` [actions] for a Gaussian policy.
extension Checkpoint {
    static func recurrentTensorShapes(_ arch: PolicyArchitecture) -> [(name: String, shape: [Int])] {
        guard let g = arch.recurrentNetwork else { return [] }
        let h = g.hiddenCount, gates = 3 * h
        var out: [(String, [Int])] = [
            ("gru.weight_ih", [g.inputCount, gates]), ("gru.weight_hh", [h, gates]), ("gru.bias_ih", [gates]), ("gru.bias_hh", [gates]),
            ("policy_head.weight", [h, g.outputCount]), ("policy_head.bias", [g.outputCount]),
            ("value_head.weight", [h, 1]), ("value_head.bias", [1]),
        ]
        if arch.kind == .gaussian { out.append(("log_std", [arch.actionCount])) }
        return out
    }

    static func recurrentTensors(_ flat: [Float], architecture arch: PolicyArchitecture, prefix: String) -> [SafeTensors.Tensor] {
        var offset = 0
        return recurrentTensorShapes(arch).map { name, shape in
            let n = shape.reduce(1, *)
            defer { offset += n }
            return SafeTensors.Tensor(name: prefix + name, shape: shape, values: Array(flat[offset..<(offset + n)]))
        }
    }
}
