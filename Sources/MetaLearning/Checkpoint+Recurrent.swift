/// The tensors of a policy with memory (`PolicyArchitecture.recurrent`), in the order of its flat
/// parameters. A GRU (`GRUNetwork`): `gru.weight_ih` [inputs, 3·hidden] and `gru.weight_hh`
/// [hidden, 3·hidden] (gates r, z, n; y = x W + b), `gru.bias_ih` and `gru.bias_hh` [3·hidden],
/// `policy_head.weight` [hidden, actions] and `policy_head.bias` [actions], `value_head.weight`
/// [hidden, 1] and `value_head.bias` [1]. A context policy (`ContextNetwork`): `encoder.layers.L.weight`
/// and `.bias` for the encoder's two layers, then `policy.layers.L.weight` and `.bias` for the
/// policy's three (the last one's final output is the value), then `decoder.layers.L.weight` and
/// `.bias` for the decoder's two (training's; acting never reads them). Then `log_std` [actions] for a
/// Gaussian policy.
extension Checkpoint {
    static func recurrentTensorShapes(_ arch: PolicyArchitecture) -> [(name: String, shape: [Int])] {
        var out: [(String, [Int])]
        switch arch.recurrentNetwork {
        case nil: return []
        case .context(let c):
            out = []
            for (name, net) in [("encoder", c.encoder), ("policy", c.policy), ("decoder", c.decoder)] {
                for l in 0..<net.layerCount {
                    out.append(("\(name).layers.\(l).weight", [net.sizes[l], net.sizes[l + 1]]))
                    out.append(("\(name).layers.\(l).bias", [net.sizes[l + 1]]))
                }
            }
        case .gru(let g):
            let h = g.hiddenCount, gates = 3 * h
            out = [
                ("gru.weight_ih", [g.inputCount, gates]), ("gru.weight_hh", [h, gates]), ("gru.bias_ih", [gates]), ("gru.bias_hh", [gates]),
                ("policy_head.weight", [h, g.outputCount]), ("policy_head.bias", [g.outputCount]),
                ("value_head.weight", [h, 1]), ("value_head.bias", [1]),
            ]
        }
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
