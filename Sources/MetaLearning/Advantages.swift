/// Discounted returns-to-go and generalized advantage estimation (Schulman et al., 2016).
public enum Advantages {
    /// Σ_{k≥t} γ^{k-t} r_k per row (count × horizon).
    public static func returnsToGo(_ episodes: Episodes, gamma: Double) -> [Double] {
        var out = [Double](repeating: 0, count: episodes.count * episodes.horizon)
        for e in 0..<episodes.count {
            var g = 0.0
            for t in stride(from: episodes.lengths[e] - 1, through: 0, by: -1) {
                let row = e * episodes.horizon + t
                g = episodes.rewards[row] + gamma * g
                out[row] = g
            }
        }
        return out
    }

    /// GAE(γ, λ) with a linear feature baseline fitted on the same episodes (the value after the
    /// last step is 0, as in MAML's code), centred and scaled to unit variance over the valid rows
    /// when `normalize`.
    public static func gae(_ episodes: Episodes, gamma: Double, lambda: Double, normalize: Bool = true) -> [Double] {
        var baseline = LinearFeatureBaseline()
        baseline.fit(episodes, returnsToGo: returnsToGo(episodes, gamma: gamma))
        let values = baseline.predict(episodes)
        var out = [Double](repeating: 0, count: episodes.count * episodes.horizon)
        for e in 0..<episodes.count {
            var a = 0.0
            let len = episodes.lengths[e]
            for t in stride(from: len - 1, through: 0, by: -1) {
                let row = e * episodes.horizon + t
                let next = t + 1 < len ? values[row + 1] : 0
                let delta = episodes.rewards[row] + gamma * next - values[row]
                a = delta + gamma * lambda * a
                out[row] = a
            }
        }
        if normalize {
            let n = Double(max(episodes.stepCount, 1))
            var mean = 0.0
            for e in 0..<episodes.count { for t in 0..<episodes.lengths[e] { mean += out[e * episodes.horizon + t] } }
            mean /= n
            var v = 0.0
            for e in 0..<episodes.count {
                for t in 0..<episodes.lengths[e] { let d = out[e * episodes.horizon + t] - mean; v += d * d }
            }
            let inv = 1 / ((v / n).squareRoot() + 1e-8)
            for e in 0..<episodes.count {
                for t in 0..<episodes.lengths[e] { out[e * episodes.horizon + t] = (out[e * episodes.horizon + t] - mean) * inv }
            }
        }
        return out
    }
}
