import Foundation
import MetaSimProtocol
import Testing

/// The recurrent policy state's requests (docs/protocol.md, "Policy state", protocol 1.2).
@Suite("policy state messages")
struct PolicyStateMessageTests {
    static func decode(_ text: String) throws -> RestorePolicyStateRequest {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { try MetaCoding.decode(RestorePolicyStateRequest.self, from: $0, keys: RestorePolicyStateRequest.keys) }
    }

    @Test("kinds 40 to 43, named, 1.2 requests; 1.2 is the current version")
    func kinds() {
        let expected: [(UInt16, MessageKind, String)] = [(40, .policyState, "policy_state"), (41, .resetPolicyState, "reset_policy_state"),
                                                        (42, .savePolicyState, "save_policy_state"), (43, .restorePolicyState, "restore_policy_state")]
        for (raw, kind, name) in expected {
            #expect(MessageKind(rawValue: raw) == kind)
            #expect(kind.name == name)
            #expect(kind.sinceMinor == 2)
        }
        #expect(MessageKind.render.sinceMinor == 1 && MessageKind.listPolicies.sinceMinor == 1 && MessageKind.step.sinceMinor == 0)
        #expect(MessageKind.allCases.map(\.rawValue).max() == 43)
        #expect(ProtocolVersion.current == ProtocolVersion(major: 1, minor: 2))
        #expect(ErrorCode(rawValue: "no_policy_state") == .noPolicyState)
    }

    @Test("restore's keys, strict: an unknown key or a wrong type is refused")
    func request() throws {
        let r = try Self.decode(#"{"session": 3, "architecture": "gru-h8", "values": 26}"#)
        #expect(r.session == 3 && r.architecture == "gru-h8" && r.values == 26 && r.dtype == nil)
        #expect(try Self.decode(#"{"session": 3, "architecture": "a", "values": 1, "dtype": "float64"}"#).dtype == "float64")
        #expect(throws: MetaCoding.DecodeError.self) { try Self.decode(#"{"session": 3, "architecture": "a", "values": 1, "size": 2}"#) }
        #expect(throws: MetaCoding.DecodeError.self) { try Self.decode(#"{"session": 3, "architecture": "a", "values": "many"}"#) }
        #expect(throws: MetaCoding.DecodeError.self) { try Self.decode(#"{"session": 3, "values": 1}"#) }
    }

    @Test("the state reply's keys")
    func reply() throws {
        let r = PolicyStateReply(session: 3, values: 26, valuesPerInstance: 13, architecture: "gru-h8")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(MetaCoding.encode(r))) as? [String: Any])
        #expect(Set(json.keys) == ["session", "values", "values_per_instance", "dtype", "architecture"])
        #expect(json["dtype"] as? String == "float64")
        let back = try MetaCoding.encode(r).withUnsafeBytes { try MetaCoding.decodeReply(PolicyStateReply.self, from: $0) }
        #expect(back == r)
    }
}
