import MetaSimCore

/// Why a frame was not drawn or encoded.
public enum RenderError: Error, CustomStringConvertible, Sendable {
    /// A frame size outside `RenderSpec`'s limits (1…4096 px a side, at most 2048 × 2048 pixels).
    case badSize(String)
    /// The scene's world could not be built for the episode seed.
    case world(WorldError)
    /// cairo refused (out of memory, an invalid surface): its status text.
    case cairo(String)
    /// giflib refused: its error text.
    case gif(String)
    /// The output buffer does not have width × height × 3 bytes.
    case bufferSize(expected: Int, found: Int)

    public var description: String {
        switch self {
        case .badSize(let m): "bad frame size: \(m)"
        case .world(let e): e.description
        case .cairo(let m): "cairo: \(m)"
        case .gif(let m): "giflib: \(m)"
        case .bufferSize(let e, let f): "a frame buffer needs \(e) bytes (width × height × 3), found \(f)"
        }
    }
}
