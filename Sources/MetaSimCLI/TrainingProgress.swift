import Foundation
import MetaLearning

/// `metasim train`'s progress: on a terminal, one bar redrawn every iteration (iteration, mean
/// return before and after adaptation, samples used, time left); otherwise a plain line every
/// `every` iterations and at the last, for logs.
struct TrainingProgress {
    let iterations: Int
    let every: Int
    let terminal: Bool
    private(set) var samples = 0
    private var seconds = 0.0
    private var drawn = false

    init(iterations: Int, every: Int, terminal: Bool) {
        self.iterations = iterations
        self.every = every
        self.terminal = terminal
    }

    mutating func report(_ s: IterationStats) {
        samples += s.samples
        seconds += s.seconds
        // multitask, oracle and metaq do not adapt while training: they have no "after".
        let returns = s.postReturn.isNaN ? "return \(fmt(s.preReturn)) (no adaptation in training)"
            : "return before adaptation \(fmt(s.preReturn)), after \(fmt(s.postReturn))"
        let used = "samples \(Self.count(samples))"
        if terminal {
            let done = s.iteration + 1, width = 24
            let filled = done * width / max(iterations, 1)
            let left = seconds / Double(done) * Double(iterations - done)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            print("\r\u{1B}[2K[\(bar)] \(done)/\(iterations)  \(returns)  \(used)  \(fmt(s.seconds, 2)) s/it  ~\(Int(left.rounded())) s left",
                  terminator: "")
            drawn = true
        } else if every > 0, s.iteration % every == 0 || s.iteration == iterations - 1 {
            print("iteration \(s.iteration): \(returns), \(used) (\(fmt(s.seconds, 3)) s)")
        }
        fflush(nil)
    }

    /// Ends the bar's line.
    mutating func finish() {
        if drawn { print() }
        drawn = false
    }

    /// 1234 → "1,234"; 5_600_000 → "5.60M".
    static func count(_ n: Int) -> String {
        if n >= 1_000_000 { return "\(fmt(Double(n) / 1e6, 2))M" }
        return n >= 1000 ? "\(n / 1000),\(String(n % 1000 + 1000).dropFirst())" : "\(n)"
    }
}
