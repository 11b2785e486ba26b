import Foundation

/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of
/// JSON header (`{"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets"}}`,
/// padded with spaces to a multiple of 8), then the raw little-endian tensor bytes. Only F32
/// tensors are written and read here. Tensors are laid out in name order; the header JSON has
/// sorted keys, so the same tensors and metadata always give the same bytes.
public enum SafeTensors {
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "tensor '\(name)': shape \(shape) does not hold \(values.count) values")
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public static func encode(_ tensors: [Tensor], metadata: [String: String]) -> [UInt8] {
        let sorted = tensors.sorted { $0.name < $1.name }
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in sorted {
            let size = t.values.count * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init) ?? []
        while json.count % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for t in sorted {
            for v in t.values {
                var bits = v.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    /// Parses a safetensors file: its tensors (in data order) and metadata. `path` names the
    /// file in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> (tensors: [Tensor], metadata: [String: String]) {
        guard bytes.count >= 8 else {
            throw .truncated(path: path, message: "\(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(bytes[k]) << (8 * UInt64(k)) }
        guard n <= 100_000_000 else { throw .malformed(path: path, message: "header length \(n) is not plausible") }
        guard 8 + Int(n) <= bytes.count else {
            throw .truncated(path: path, message: "header announces \(n) bytes, file has \(bytes.count - 8) after the length")
        }
        let headerBytes = Data(bytes[8..<(8 + Int(n))])
        guard let object = try? JSONSerialization.jsonObject(with: headerBytes), let header = object as? [String: Any] else {
            throw .malformed(path: path, message: "the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let m = m as? [String: String] else { throw .malformed(path: path, message: "__metadata__ must map strings to strings") }
            metadata = m
        }
        let dataStart = 8 + Int(n), dataCount = bytes.count - dataStart
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let t = value as? [String: Any], let dtype = t["dtype"] as? String,
                  let shape = (t["shape"] as? [NSNumber])?.map(\.intValue),
                  let offsets = (t["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2 else {
                throw .malformed(path: path, message: "tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard dtype == "F32" else { throw .malformed(path: path, message: "tensor '\(name)' is \(dtype); only F32 is supported") }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] >= offsets[0],
                  (offsets[1] - offsets[0]) == shape.reduce(1, *) * 4 else {
                throw .malformed(path: path, message: "tensor '\(name)': shape \(shape) does not match offsets \(offsets)")
            }
            entries.append((name, shape, offsets[0], offsets[1]))
        }
        entries.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        var expected = 0
        for e in entries {
            guard e.begin == expected else { throw .malformed(path: path, message: "tensor '\(e.name)' does not start where the previous one ends") }
            expected = e.end
        }
        guard dataCount >= expected else {
            throw .truncated(path: path, message: "tensors need \(expected) bytes of data, the file has \(dataCount)")
        }
        guard dataCount == expected else { throw .malformed(path: path, message: "\(dataCount - expected) bytes after the last tensor") }
        var tensors: [Tensor] = []
        for e in entries {
            var values = [Float](repeating: 0, count: (e.end - e.begin) / 4)
            for k in 0..<values.count {
                let o = dataStart + e.begin + 4 * k
                let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
                values[k] = Float(bitPattern: bits)
            }
            tensors.append(Tensor(name: e.name, shape: e.shape, values: values))
        }
        return (tensors, metadata)
    }
}
