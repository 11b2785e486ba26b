import ArgumentParser
import Foundation
import MetaSimCore

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Step one episode with given actions and print every step as JSON lines.",
        discussion: """
            Reads actions as a JSON array of arrays (one per step; a discrete action is [index]) from \
            --actions FILE (or - for stdin). Prints the reset observation, then one line per step with \
            the observation, reward, terminated, truncated and the named values given with --value. \
            Used to compare a world with another simulator step by step.
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var taskOptions: TaskOptions
    @Option(help: "World name or path.") var world: String
    @Option(help: "Episode seed.") var seed: UInt64 = 0
    @Option(help: "JSON file of actions (- for standard input).") var actions: String
    @Option(name: .customLong("value"), help: "A named quantity to print every step (e.g. lander.x); repeatable.") var values: [String] = []

    struct Line: Encodable {
        let step: Int
        let observation: [Float]
        let reward: Double?
        let terminated: Bool
        let truncated: Bool
        let values: [String: Double]
    }

    func run() throws {
        let d = try catalog.definition(world)
        let task = try taskOptions.task(for: d)
        let w: World
        do { w = try World(definition: d, task: task) } catch { throw CLIError(error.description) }
        let data = actions == "-" ? FileHandle.standardInput.readDataToEndOfFile()
                                  : (FileManager.default.contents(atPath: actions) ?? Data())
        guard let list = try JSONSerialization.jsonObject(with: data) as? [[Double]] else {
            throw CLIError("\(actions): error: expected a JSON array of arrays of numbers")
        }
        for v in values where w.value(of: v) == nil { throw CLIError("error: world '\(d.name)' has no value named '\(v)'") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func emit(_ line: Line) throws { print(String(decoding: try encoder.encode(line), as: UTF8.self)) }
        func named() -> [String: Double] { Dictionary(uniqueKeysWithValues: values.map { ($0, w.value(of: $0) ?? .nan) }) }
        w.reset(seed: seed)
        try emit(Line(step: 0, observation: w.observation, reward: nil, terminated: false, truncated: false, values: named()))
        for (i, a) in list.enumerated() {
            guard a.count == w.actionCount else { throw CLIError("error: action \(i) has \(a.count) values, expected \(w.actionCount)") }
            let r = w.step(a.map(Float.init))
            try emit(Line(step: i + 1, observation: w.observation, reward: r.reward, terminated: r.terminated, truncated: r.truncated, values: named()))
            if r.terminated || r.truncated { break }
        }
    }
}
