// libFuzzer target: the YAML parser and composer (MetaSimYAML) on arbitrary bytes.
// `make fuzz` builds it for libFuzzer; a plain build replays the inputs it is given (FuzzSupport).
// See docs/fuzzing.md.
import FuzzSupport
import MetaSimYAML

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYAML(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        if let root = try YAMLParser(bytes: bytes, file: "fuzz.yaml").singleDocument() {
            // Walk the tree as the world loader does: kinds, scalars, keys, marks (a node budget
            // keeps a legitimately large tree from reading as a hang).
            var budget = 1_000_000
            walk(root, &budget)
        }
    } catch {
        // A parse error is the expected answer to bad input; it must describe itself.
        _ = error.description
    }
    return 0
}

func walk(_ node: YAMLNode, _ budget: inout Int) {
    budget -= 1
    guard budget > 0 else { return }
    _ = node.mark.description
    _ = node.isNull
    switch node.kind {
    case .scalar(let text, _): _ = text.utf8.count
    case .sequence(let items): for item in items { walk(item, &budget) }
    case .mapping(let pairs):
        for pair in pairs {
            walk(pair.key, &budget)
            walk(pair.value, &budget)
        }
        if let key = pairs.first?.key.scalar { _ = node[key] }
    }
}

@main enum FuzzYAML {
    static func main() { fuzzMain(fuzzYAML) }
}
