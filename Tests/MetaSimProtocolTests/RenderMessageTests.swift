import Foundation
import MetaSimProtocol
import Testing

/// The `render` request and reply (docs/protocol.md, "render").
@Suite("render messages")
struct RenderMessageTests {
    static func decode(_ text: String) throws -> RenderRequest {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { try MetaCoding.decode(RenderRequest.self, from: $0, keys: RenderRequest.keys) }
    }

    @Test("kind 39 named render, a 1.1 request")
    func kind() {
        #expect(MessageKind(rawValue: 39) == .render)
        #expect(MessageKind.render.name == "render")
        #expect(MessageKind.render.sinceMinor == 1)
    }

    @Test("the request's keys, strict: an unknown key is refused by name")
    func request() throws {
        let r = try Self.decode(#"{"session": 3, "instances": [0, 2], "width": 150, "height": 100}"#)
        #expect(r.session == 3 && r.instances == [0, 2] && r.width == 150 && r.height == 100)
        let bare = try Self.decode(#"{"session": 4}"#)
        #expect(bare.instances == nil && bare.width == nil && bare.height == nil)
        #expect(throws: MetaCoding.DecodeError.self) { try Self.decode(#"{"session": 4, "zoom": 2}"#) }
        #expect(throws: MetaCoding.DecodeError.self) { try Self.decode(#"{"session": 4, "width": "wide"}"#) }
    }

    @Test("the reply's keys and its data size")
    func reply() throws {
        let r = RenderReply(session: 3, instances: [0, 2], width: 150, height: 100, dt: 0.02)
        #expect(r.dataSize == 2 * 150 * 100 * 3)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(MetaCoding.encode(r))) as? [String: Any])
        #expect(Set(json.keys) == ["session", "instances", "width", "height", "format", "dt"])
        #expect(json["format"] as? String == "rgb24")
        let back = try MetaCoding.encode(r).withUnsafeBytes { try MetaCoding.decodeReply(RenderReply.self, from: $0) }
        #expect(back == r)
    }
}
