import CCairo
import Foundation
import MetaSimCore

/// Draws a `RasterScene` at given poses into RGB frames with cairo's image surface: the same
/// picture as `SVGRenderer` (background, track centre line, static shapes, goal, dynamic bodies in
/// `SVGRenderer.palette` with a spoke on circles), without its caption. cairo's software
/// rasterizer is deterministic: the same scene, poses and camera give the same bytes.
///
/// Owns one surface, reused while the frame size stays the same; one thread at a time.
public final class Rasterizer {
    private var surface: OpaquePointer?
    private var context: OpaquePointer?
    private var size = (width: 0, height: 0)
    /// Antialiased edges (the default); off, a frame holds only the scene's own colours.
    public var antialias: Bool

    /// The goal's and the track's colours (`SVGRenderer`'s).
    static let goalFill = RasterScene.Colour(r: 0xf2 / 255.0, g: 0xc1 / 255.0, b: 0x4e / 255.0)
    static let goalStroke = RasterScene.Colour(r: 0xc9 / 255.0, g: 0x8f / 255.0, b: 0)
    static let trackStroke = RasterScene.Colour(r: 0xbb / 255.0, g: 0xbb / 255.0, b: 0xbb / 255.0)
    /// Stroke width in pixels (`SVGRenderer`'s 1.5 px).
    static let strokePixels = 1.5

    public init(antialias: Bool = true) {
        self.antialias = antialias
    }

    deinit { release() }

    private func release() {
        if let context { cairo_destroy(context) }
        if let surface { cairo_surface_destroy(surface) }
        context = nil; surface = nil; size = (0, 0)
    }

    /// A surface of the camera's size (the last one when its size is the same).
    private func prepare(_ camera: FrameCamera) throws(RenderError) -> OpaquePointer {
        if let context, size == (camera.width, camera.height) { return context }
        release()
        guard let s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(camera.width), Int32(camera.height)) else {
            throw .cairo("no surface")
        }
        surface = s
        guard cairo_surface_status(s) == CAIRO_STATUS_SUCCESS else {
            let m = String(cString: cairo_status_to_string(cairo_surface_status(s)))
            release()
            throw .cairo(m)
        }
        guard let c = cairo_create(s) else { release(); throw .cairo("no context") }
        context = c
        size = (camera.width, camera.height)
        return c
    }

    /// Draws the frame of `scene` with its dynamic bodies at `poses` and writes it to `out`:
    /// width × height × 3 bytes, rows from the top, R G B per pixel.
    public func draw(_ scene: RasterScene, poses: [SIMD3<Double>], camera: FrameCamera,
                     into out: UnsafeMutableRawBufferPointer) throws(RenderError) {
        let bytes = camera.width * camera.height * 3
        guard out.count == bytes else { throw .bufferSize(expected: bytes, found: out.count) }
        try paint(scene, poses: poses, camera: camera)
        guard let surface else { throw .cairo("no surface") }
        cairo_surface_flush(surface)
        guard let data = cairo_image_surface_get_data(surface) else { throw .cairo("no pixel data") }
        let stride = Int(cairo_image_surface_get_stride(surface))
        let w = camera.width
        guard let dst = out.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        // CAIRO_FORMAT_RGB24: one native-endian UInt32 per pixel, 0x00RRGGBB.
        for row in 0..<camera.height {
            let src = UnsafeRawPointer(data + row * stride).assumingMemoryBound(to: UInt32.self)
            let line = dst + row * w * 3
            for x in 0..<w {
                let v = src[x]
                line[3 * x] = UInt8(truncatingIfNeeded: v >> 16)
                line[3 * x + 1] = UInt8(truncatingIfNeeded: v >> 8)
                line[3 * x + 2] = UInt8(truncatingIfNeeded: v)
            }
        }
    }

    /// The frame as a new array (width × height × 3 bytes).
    public func frame(_ scene: RasterScene, poses: [SIMD3<Double>], camera: FrameCamera) throws(RenderError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: camera.width * camera.height * 3)
        let failure: RenderError? = out.withUnsafeMutableBytes { buffer in
            do throws(RenderError) { try draw(scene, poses: poses, camera: camera, into: buffer) } catch { return error }
            return nil
        }
        if let failure { throw failure }
        return out
    }

    /// The frame as a PNG file's bytes (cairo's PNG writer).
    public func png(_ scene: RasterScene, poses: [SIMD3<Double>], camera: FrameCamera) throws(RenderError) -> [UInt8] {
        try paint(scene, poses: poses, camera: camera)
        guard let surface else { throw .cairo("no surface") }
        final class Sink { var bytes: [UInt8] = [] }
        let sink = Sink()
        let status = cairo_surface_write_to_png_stream(surface, { closure, data, length in
            guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
            let sink = Unmanaged<Sink>.fromOpaque(closure).takeUnretainedValue()
            sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
            return CAIRO_STATUS_SUCCESS
        }, Unmanaged.passUnretained(sink).toOpaque())
        guard status == CAIRO_STATUS_SUCCESS else { throw .cairo(String(cString: cairo_status_to_string(status))) }
        return withExtendedLifetime(sink) { sink.bytes }
    }

    private func paint(_ scene: RasterScene, poses: [SIMD3<Double>], camera: FrameCamera) throws(RenderError) {
        let cr = try prepare(camera)
        cairo_save(cr)
        defer { cairo_restore(cr) }
        cairo_set_antialias(cr, antialias ? CAIRO_ANTIALIAS_DEFAULT : CAIRO_ANTIALIAS_NONE)
        set(cr, scene.background)
        cairo_paint(cr)

        // World coordinates (metres, y up) from here on.
        let s = camera.scale
        cairo_translate(cr, Double(camera.width) / 2, Double(camera.height) / 2)
        cairo_scale(cr, s, -s)
        cairo_translate(cr, -camera.centre.x, -camera.centre.y)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_width(cr, Self.strokePixels / s)

        if let first = scene.track.first {
            cairo_move_to(cr, first.x, first.y)
            for p in scene.track.dropFirst() { cairo_line_to(cr, p.x, p.y) }
            cairo_close_path(cr)
            var dash = [4 / s, 4 / s]
            cairo_set_dash(cr, &dash, 2, 0)
            set(cr, Self.trackStroke)
            cairo_stroke(cr)
            cairo_set_dash(cr, nil, 0, 0)
        }
        for shape in scene.shapes where shape.body == nil { draw(cr, shape) }
        if let g = scene.goal {
            cairo_new_path(cr)
            cairo_arc(cr, g.centre.x, g.centre.y, max(g.radius, 0.01), 0, 2 * Double.pi)
            let f = Self.goalFill
            cairo_set_source_rgba(cr, f.r, f.g, f.b, 0.6)
            cairo_fill_preserve(cr)
            set(cr, Self.goalStroke)
            cairo_stroke(cr)
        }
        for shape in scene.shapes {
            guard let k = shape.body, k < poses.count else { continue }
            let p = poses[k]
            guard p.x.isFinite, p.y.isFinite, p.z.isFinite else { continue }
            cairo_save(cr)
            cairo_translate(cr, p.x, p.y)
            cairo_rotate(cr, p.z)
            draw(cr, shape)
            cairo_restore(cr)
        }
        guard cairo_status(cr) == CAIRO_STATUS_SUCCESS else {
            throw .cairo(String(cString: cairo_status_to_string(cairo_status(cr))))
        }
    }

    private func draw(_ cr: OpaquePointer, _ shape: RasterScene.Shape) {
        guard let first = shape.points.first else { return }
        cairo_new_path(cr)
        switch shape.kind {
        case .circle(let r):
            cairo_arc(cr, first.x, first.y, r, 0, 2 * Double.pi)
            fillAndStroke(cr, shape)
            // A spoke shows rotation.
            cairo_move_to(cr, first.x, first.y)
            cairo_line_to(cr, first.x + r, first.y)
            if let stroke = shape.stroke { set(cr, stroke); cairo_stroke(cr) } else { cairo_new_path(cr) }
        case .polygon:
            cairo_move_to(cr, first.x, first.y)
            for p in shape.points.dropFirst() { cairo_line_to(cr, p.x, p.y) }
            cairo_close_path(cr)
            fillAndStroke(cr, shape)
        case .polyline(let closed):
            cairo_move_to(cr, first.x, first.y)
            for p in shape.points.dropFirst() { cairo_line_to(cr, p.x, p.y) }
            if closed { cairo_close_path(cr) }
            if let stroke = shape.stroke { set(cr, stroke); cairo_stroke(cr) } else { cairo_new_path(cr) }
        }
    }

    private func fillAndStroke(_ cr: OpaquePointer, _ shape: RasterScene.Shape) {
        if let fill = shape.fill { set(cr, fill); cairo_fill_preserve(cr) }
        if let stroke = shape.stroke { set(cr, stroke); cairo_stroke(cr) } else { cairo_new_path(cr) }
    }

    private func set(_ cr: OpaquePointer, _ c: RasterScene.Colour) {
        cairo_set_source_rgb(cr, c.r, c.g, c.b)
    }
}
