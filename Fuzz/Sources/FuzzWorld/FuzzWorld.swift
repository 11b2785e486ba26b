// libFuzzer target: the world loader from YAML text to a built, reset and stepped world
// (MetaSimCore), parameter overrides included.
//
// Input layout (Fuzz/corpus/FuzzWorld holds the catalog worlds in it): a fixed 31-byte header,
// so that turning an override on or off does not move the world file under it.
//
//     u8  control      bits 0-1: overrides in use (0...3); bits 2-7: task seed (0 = nominal task)
//     3 × 10 bytes:    u8 parameter (index into the file's parameters; 255 = a name it lacks),
//                      u8 mode (even: a value from `interesting`; odd: the next 8 bytes as a double),
//                      8 bytes (little-endian double, read only in odd mode)
//     the rest:        the world file (UTF-8)
//
// `make fuzz` builds it for libFuzzer; a plain build replays the inputs it is given (FuzzSupport).
// See docs/fuzzing.md.
import FuzzSupport
import MetaSimCore

/// Values that break code that assumes sane magnitudes or integers.
let interesting: [Double] = [
    0, 1, -1, 0.5, 2, 3, 7, 100, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18, 1e30, 1e300, -1e9, -1e30, -1e300,
    4294967296, 2147483648, 9.2233720368547758e18, -9.2233720368547758e18, 1.0000001, 0.999, 1e-9, 1e-300,
    .leastNonzeroMagnitude, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .nan, .infinity, -.infinity,
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWorld(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard size >= 31 else { return 0 }
    let control = input[0]
    var picks: [(index: UInt8, value: Double)] = []
    for k in 0..<Int(control & 3) {
        let at = 1 + 10 * k
        let index = input[at], mode = input[at + 1]
        var bits: UInt64 = 0
        for k in 0..<8 { bits |= UInt64(input[at + 2 + k]) << (8 * UInt64(k)) }
        let value = mode & 1 == 0 ? interesting[Int(mode >> 1) % interesting.count] : Double(bitPattern: bits)
        picks.append((index, value))
    }
    let text = String(decoding: UnsafeBufferPointer(rebasing: input[31...]), as: UTF8.self)
    let definition: WorldDefinition
    do { definition = try WorldDefinition.parse(text, file: "fuzz.yaml") } catch {
        _ = error.description
        return 0
    }
    var overrides: [String: Double] = [:]
    for pick in picks {
        let name = pick.index == 255 || definition.parameters.isEmpty
            ? "NO_SUCH_PARAMETER" : definition.parameters[Int(pick.index) % definition.parameters.count].name
        overrides[name] = pick.value
    }
    let seed = UInt64(control >> 2)
    do {
        let task = seed == 0 ? try definition.nominalTask(overrides: overrides)
                             : try definition.sampleTask(seed: seed, overrides: overrides)
        let world = try World(definition: definition, task: task)
        try world.resetChecked(seed: seed)
        // A few steps with a fixed action in range (the middle of each bound, or discrete action 0).
        let action = [Float](repeating: 0, count: world.actionCount)
        for _ in 0..<4 where world.episodeEnd == nil {
            _ = world.step(action)
        }
    } catch {
        _ = error.description
    }
    return 0
}

@main enum FuzzWorld {
    static func main() { fuzzMain(fuzzWorld) }
}
