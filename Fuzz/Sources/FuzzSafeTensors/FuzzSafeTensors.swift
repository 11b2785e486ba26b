// libFuzzer target: the safetensors reader and checkpoint decoding (MetaLearning) on arbitrary
// bytes; what decodes is written again and must decode to the same checkpoint.
// `make fuzz` builds it for libFuzzer; a plain build replays the inputs it is given (FuzzSupport).
// See docs/fuzzing.md.
import FuzzSupport
import MetaLearning

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let (tensors, metadata) = try? SafeTensors.decode(bytes, path: "fuzz.safetensors") {
        // The writer must take what the reader gives and give back the same tensors.
        do {
            let again = try SafeTensors.decode(SafeTensors.encode(tensors, metadata: metadata), path: "again.safetensors")
            precondition(again.metadata == metadata && again.tensors.map(\.name) == tensors.map(\.name).sorted(),
                         "safetensors: a decoded file does not survive encode and decode")
        } catch {
            fatalError("safetensors: the writer's bytes do not decode: \(error)")
        }
    }
    do {
        let checkpoint = try Checkpoint.decode(bytes, path: "fuzz.safetensors")
        do { _ = try Checkpoint.decode(checkpoint.encoded(), path: "again.safetensors") } catch {
            fatalError("checkpoint: the writer's bytes do not decode: \(error)")
        }
    } catch {
        _ = error.description
    }
    return 0
}

@main enum FuzzSafeTensors {
    static func main() { fuzzMain(fuzzSafeTensors) }
}
