import Foundation
import MetaSimProtocol
import Testing

/// The world metadata `list_worlds` and the session replies carry for clients' specs
/// (Gymnasium's `max_episode_steps` and `reward_threshold`): present when known, absent otherwise,
/// so a world without a threshold keeps the bytes it had.
@Suite("World metadata in replies")
struct WorldMetadataTests {
    static let spec = WireTensorSpec(name: "observation", shape: [1], dtype: "float32", low: [-1], high: [1], entries: ["x"])

    static func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("world info: horizon and reward_threshold under their snake_case keys, and read back")
    func worldInfoKeys() throws {
        let info = WorldInfo(name: "w", kind: "robot", path: "w.yaml", description: "", observation: Self.spec, action: Self.spec,
                             discreteActions: nil, parameters: [], horizon: 500, rewardThreshold: 475)
        let bytes = MetaCoding.encode(info)
        let json = try Self.object(bytes)
        #expect(json["horizon"] as? Int == 500)
        #expect(json["reward_threshold"] as? Double == 475)
        let back = try bytes.withUnsafeBytes { try MetaCoding.decodeReply(WorldInfo.self, from: $0) }
        #expect(back == info)
    }

    @Test("no threshold: no reward_threshold key in the world info nor the session reply")
    func absentThreshold() throws {
        let info = WorldInfo(name: "w", kind: "robot", path: "w.yaml", description: "", observation: Self.spec, action: Self.spec,
                             discreteActions: nil, parameters: [], horizon: 200)
        #expect(try Self.object(MetaCoding.encode(info))["reward_threshold"] == nil)
        let reply = SessionReply(session: 1, world: "w", batch: 1, threads: 1, autoReset: true, observation: Self.spec,
                                 action: Self.spec, discreteActions: nil, task: TaskInfo(seed: nil, params: [:]), seed: 0,
                                 horizon: 200)
        let json = try Self.object(MetaCoding.encode(reply))
        #expect(json["reward_threshold"] == nil)
        #expect(json["horizon"] as? Int == 200)
        var withThreshold = reply
        withThreshold.rewardThreshold = -100
        #expect(try Self.object(MetaCoding.encode(withThreshold))["reward_threshold"] as? Double == -100)
    }
}
