import MetaSimCore
import MetaSimProtocol
import MetaSimRender

extension Connection {
    /// `render`: RGB frames of some of a session's instances, drawn with cairo (MetaSimRender)
    /// at their current state, written in place into the reply.
    func render(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(RenderRequest.self, frame, keys: RenderRequest.keys)
        let session = try ownedSession(r.session)
        let instances = r.instances ?? [0]
        guard !instances.isEmpty, instances.count <= RenderRequest.maxInstances else {
            throw RequestFailure(.badRequest, "instances: 1…\(RenderRequest.maxInstances) instances per render, found \(instances.count)")
        }
        for i in instances where i < 0 || i >= session.batchCount {
            throw RequestFailure(.badRequest, "instances: \(i) is not in 0..<\(session.batchCount)")
        }
        if let failure = session.failure { throw RequestFailure(.worldFailed, "\(failure) (render draws a built world)") }
        let size: (width: Int, height: Int)?
        switch (r.width, r.height) {
        case (nil, nil): size = nil
        case (let w?, let h?):
            if let problem = RenderSpec.sizeProblem(width: w, height: h) { throw RequestFailure(.badRequest, "width, height: \(problem)") }
            size = (w, h)
        default: throw RequestFailure(.badRequest, "give both 'width' and 'height', or neither")
        }
        // The reply's size first (before any scene is built), then every frame's scene and
        // camera: nothing is written unless all can be drawn.
        let w = size?.width ?? session.definition.render.width, h = size?.height ?? session.definition.render.height
        let dt = session.batch.world(instances[0]).value(of: "dt")
        let reply = RenderReply(session: session.id, instances: instances, width: w, height: h, dt: dt.flatMap { $0.isFinite ? $0 : nil })
        let metaBytes = MetaCoding.encode(reply)
        let length = 12 + metaBytes.count + reply.dataSize
        guard length <= core.configuration.maxFrame else {
            throw RequestFailure(.limitExceeded, "\(instances.count) frame(s) of \(w) × \(h) make a \(length)-byte reply; the server's maximum frame is \(core.configuration.maxFrame) bytes: ask for fewer instances or a smaller size")
        }
        var plans: [(RasterScene, [SIMD3<Double>], FrameCamera)] = []
        plans.reserveCapacity(instances.count)
        for i in instances {
            do { plans.append(try session.renderCamera(instance: i, size: size)) } catch {
                throw Self.failure(error, instance: i)
            }
            guard plans[plans.count - 1].2.width == w, plans[plans.count - 1].2.height == h else {
                throw RequestFailure(.internal, "instance \(i): a \(plans[plans.count - 1].2.width) × \(plans[plans.count - 1].2.height) camera for a \(w) × \(h) reply")
            }
        }
        let f = out.beginFrame(kind: MessageKind.render.rawValue, flags: .response, id: frame.header.id, meta: metaBytes)
        let bytes = w * h * 3
        let at = out.appendZeros(reply.dataSize)
        for (k, plan) in plans.enumerated() {
            do { try session.drawFrame(plan.0, poses: plan.1, camera: plan.2, into: out.region(at + k * bytes, bytes)) } catch {
                out.discardFrame(f)
                throw Self.failure(error, instance: instances[k])
            }
        }
        out.endFrame(f)
    }

    private static func failure(_ error: RenderError, instance i: Int) -> RequestFailure {
        switch error {
        case .badSize(let m): RequestFailure(.badRequest, "width, height: \(m)")
        case .world(let e): RequestFailure(.worldFailed, "instance \(i): \(e.description)")
        default: RequestFailure(.internal, "instance \(i): \(error.description)")
        }
    }
}
