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

    /// Limits of what `decode` accepts, checked before anything is allocated.
    public enum Limits {
        /// Largest header (JSON) a file may announce.
        public static let maxHeaderBytes = 100_000_000
        /// Most dimensions of one tensor.
        public static let maxRank = 8
    }

    /// One tensor's header entry, as the JSON holds it. Decoding it with `JSONDecoder` makes a
    /// number that is fractional, negative-where-unsigned or beyond `Int` an error, not a
    /// wrapped or truncated value.
    private struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let dataOffsets: [Int]
        enum CodingKeys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }
    }

    private struct Header: Decodable {
        var metadata: [String: String] = [:]
        var entries: [(name: String, entry: Entry)] = []
        /// What is wrong with the header (a bad entry), if anything: decoding goes on so that
        /// the message names the tensor.
        var problem: String?

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            for key in c.allKeys {
                if key.stringValue == "__metadata__" {
                    guard let m = try? c.decode([String: String].self, forKey: key) else {
                        problem = problem ?? "__metadata__ must map strings to strings"
                        continue
                    }
                    metadata = m
                } else {
                    do { entries.append((key.stringValue, try c.decode(Entry.self, forKey: key))) } catch {
                        problem = problem ?? "tensor '\(key.stringValue)' lacks dtype, shape or data_offsets, or they are not whole numbers in range (\(Self.reason(error)))"
                    }
                }
            }
        }

        static func reason(_ error: any Error) -> String {
            switch error as? DecodingError {
            case .dataCorrupted(let c)?, .typeMismatch(_, let c)?, .valueNotFound(_, let c)?, .keyNotFound(_, let c)?:
                return c.debugDescription
            default:
                return "\(error)"
            }
        }
    }

    /// The number of elements of `shape`, or nil when a dimension is negative or the product
    /// overflows.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            n = p
        }
        return n
    }

    /// Parses a safetensors file: its tensors (in data order) and metadata. `path` names the
    /// file in errors. Every size the header announces (header length, shapes, offsets) is
    /// checked against the file's size with overflow-safe arithmetic before anything is
    /// allocated: a malformed or hostile file is an error, never a trap.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> (tensors: [Tensor], metadata: [String: String]) {
        guard bytes.count >= 8 else {
            throw .truncated(path: path, message: "\(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(bytes[k]) << (8 * UInt64(k)) }
        guard n <= UInt64(Limits.maxHeaderBytes) else { throw .malformed(path: path, message: "header length \(n) is not plausible") }
        let headerEnd = 8 + Int(n)
        guard headerEnd <= bytes.count else {
            throw .truncated(path: path, message: "header announces \(n) bytes, file has \(bytes.count - 8) after the length")
        }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[8..<headerEnd])) } catch {
            throw .malformed(path: path, message: "the header is not a JSON object")
        }
        if let problem = header.problem { throw .malformed(path: path, message: problem) }
        let dataStart = headerEnd, dataCount = bytes.count - dataStart
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, t) in header.entries {
            guard t.dtype == "F32" else { throw .malformed(path: path, message: "tensor '\(name)' is \(t.dtype); only F32 is supported") }
            guard t.dataOffsets.count == 2 else {
                throw .malformed(path: path, message: "tensor '\(name)': data_offsets \(t.dataOffsets) is not [begin, end]")
            }
            guard t.shape.count <= Limits.maxRank else {
                throw .malformed(path: path, message: "tensor '\(name)' has \(t.shape.count) dimensions (at most \(Limits.maxRank))")
            }
            let begin = t.dataOffsets[0], end = t.dataOffsets[1]
            guard begin >= 0, end >= begin else {
                throw .malformed(path: path, message: "tensor '\(name)': data_offsets \(t.dataOffsets) are not 0 <= begin <= end")
            }
            guard end <= dataCount else {
                throw .truncated(path: path, message: "tensor '\(name)' ends at byte \(end) of the data, the file has \(dataCount)")
            }
            guard let count = elementCount(t.shape), case (let size, false) = count.multipliedReportingOverflow(by: 4),
                  size == end - begin else {
                throw .malformed(path: path, message: "tensor '\(name)': shape \(t.shape) does not match offsets \(t.dataOffsets)")
            }
            entries.append((name, t.shape, begin, end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expected = 0
        for e in entries {
            guard e.begin == expected else {
                throw .malformed(path: path, message: e.begin < expected
                    ? "tensor '\(e.name)' overlaps the previous one (offset \(e.begin), previous ends at \(expected))"
                    : "tensor '\(e.name)' does not start where the previous one ends (offset \(e.begin), previous ends at \(expected))")
            }
            expected = e.end
        }
        guard dataCount == expected else { throw .malformed(path: path, message: "\(dataCount - expected) bytes after the last tensor") }
        var tensors: [Tensor] = []
        tensors.reserveCapacity(entries.count)
        for e in entries {
            var values = [Float](repeating: 0, count: (e.end - e.begin) / 4)
            for k in 0..<values.count {
                let o = dataStart + e.begin + 4 * k
                let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
                values[k] = Float(bitPattern: bits)
            }
            tensors.append(Tensor(name: e.name, shape: e.shape, values: values))
        }
        return (tensors, metadata: header.metadata)
    }
}
