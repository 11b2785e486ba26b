import Foundation

/// JSON metadata coding (snake_case keys come from the types' CodingKeys: no key strategy, so
/// parameter names in dictionaries pass through unchanged); requests are strict (not an object, an unknown key,
/// or a wrong type is an error naming the key).
public enum MetaCoding {
    public struct DecodeError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Only our own Codable types are encoded; they cannot fail.
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    /// Decodes request metadata; `keys` are the allowed snake_case keys. Empty metadata is {}.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer, keys: Set<String>? = nil) throws(DecodeError) -> T {
        let data = bytes.isEmpty ? Data("{}".utf8) : Data(bytes)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data, options: []) } catch {
            throw DecodeError(message: "metadata is not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw DecodeError(message: "metadata must be a JSON object") }
        if let keys {
            for key in dict.keys.sorted() where !keys.contains(key) {
                throw DecodeError(message: "unknown key '\(key)' (expected one of: \(keys.sorted().joined(separator: ", ")))")
            }
        }
        let decoder = JSONDecoder()
        do { return try decoder.decode(T.self, from: data) } catch let error as DecodingError {
            throw DecodeError(message: describe(error))
        } catch {
            throw DecodeError(message: "metadata: \(error)")
        }
    }

    /// Decodes response metadata (lenient: a newer minor version may add keys).
    public static func decodeReply<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws(DecodeError) -> T {
        try decode(type, from: bytes, keys: nil)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ p: [any CodingKey]) -> String {
            p.isEmpty ? "metadata" : p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let ctx): return "missing key '\(path(ctx.codingPath + [key]))'"
        case .typeMismatch(let type, let ctx): return "\(path(ctx.codingPath)): expected \(typeName(type))"
        case .valueNotFound(let type, let ctx): return "\(path(ctx.codingPath)): expected \(typeName(type)), got null"
        case .dataCorrupted(let ctx): return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default: return "metadata: \(error)"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is UInt32.Type, is UInt64.Type: "a non-negative integer"
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        default: "\(type)"
        }
    }
}
