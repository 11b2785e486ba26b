import Foundation

/// The JSON conventions of batch files: sorted keys, numbers that read back to the same bits,
/// non-finite values as the strings "nan", "inf", "-inf".
enum BatchFormat {
    static func makeEncoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    static func json<T: Encodable>(_ value: T, encoder: JSONEncoder = makeEncoder()) -> String {
        // Encoding plain structs of numbers and strings cannot fail.
        String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}
