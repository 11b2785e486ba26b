// geometry.cpp: shape validation. Debian's libbox2d keeps its assertions, so b2PolygonShape::Set
// or b2ChainShape::CreateChain on bad input would abort the process; these checks reject such
// input first.

#include "internal.hpp"

namespace msp {

// The convex hull exactly as b2PolygonShape::Set computes it (same welding tolerance, same gift
// wrapping, same vertex order), but reporting degenerate input instead of asserting. The shape's
// fields are filled directly, so Set (and its assertions) is never called.
int32_t make_polygon(const float *points, int32_t count, b2PolygonShape *out) {
    if (count < 3 || count > b2_maxPolygonVertices) return MSP_ERR_BAD_GEOMETRY;

    // Weld points closer than half a linear slop.
    b2Vec2 ps[b2_maxPolygonVertices];
    int32_t n = 0;
    const float weld = (0.5f * b2_linearSlop) * (0.5f * b2_linearSlop);
    for (int32_t i = 0; i < count; ++i) {
        const b2Vec2 v(points[2 * i], points[2 * i + 1]);
        bool unique = true;
        for (int32_t j = 0; j < n; ++j) {
            if (b2DistanceSquared(v, ps[j]) < weld) {
                unique = false;
                break;
            }
        }
        if (unique) ps[n++] = v;
    }
    if (n < 3) return MSP_ERR_BAD_GEOMETRY;

    // Gift wrapping from the right-most (then lowest) point.
    int32_t i0 = 0;
    float x0 = ps[0].x;
    for (int32_t i = 1; i < n; ++i) {
        const float x = ps[i].x;
        if (x > x0 || (x == x0 && ps[i].y < ps[i0].y)) {
            i0 = i;
            x0 = x;
        }
    }
    int32_t hull[b2_maxPolygonVertices];
    int32_t m = 0;
    int32_t ih = i0;
    for (;;) {
        hull[m] = ih;
        int32_t ie = 0;
        for (int32_t j = 1; j < n; ++j) {
            if (ie == ih) {
                ie = j;
                continue;
            }
            const b2Vec2 r = ps[ie] - ps[hull[m]];
            const b2Vec2 v = ps[j] - ps[hull[m]];
            const float c = b2Cross(r, v);
            if (c < 0.0f) ie = j;
            if (c == 0.0f && v.LengthSquared() > r.LengthSquared()) ie = j;  // collinear: farthest
        }
        ++m;
        ih = ie;
        if (ie == i0) break;
        if (m >= n) return MSP_ERR_BAD_GEOMETRY;  // round-off kept the hull from closing
    }
    if (m < 3) return MSP_ERR_BAD_GEOMETRY;

    b2Vec2 vs[b2_maxPolygonVertices];
    b2Vec2 normals[b2_maxPolygonVertices];
    for (int32_t i = 0; i < m; ++i) vs[i] = ps[hull[i]];
    for (int32_t i = 0; i < m; ++i) {
        const b2Vec2 edge = vs[i + 1 < m ? i + 1 : 0] - vs[i];
        if (!(edge.LengthSquared() > b2_epsilon * b2_epsilon)) return MSP_ERR_BAD_GEOMETRY;
        normals[i] = b2Cross(edge, 1.0f);
        normals[i].Normalize();
    }

    // Area-weighted centroid about the first vertex, as Box2D computes it. Box2D asserts
    // area > b2_epsilon there and in ComputeMass; keep a margin so that compiler differences in
    // rounding cannot tip a borderline polygon over.
    b2Vec2 c(0.0f, 0.0f);
    float area = 0.0f;
    const b2Vec2 s = vs[0];
    const float inv3 = 1.0f / 3.0f;
    for (int32_t i = 0; i < m; ++i) {
        const b2Vec2 p2 = vs[i] - s;
        const b2Vec2 p3 = (i + 1 < m ? vs[i + 1] : vs[0]) - s;
        const float triangle = 0.5f * b2Cross(p2, p3);
        area += triangle;
        c += triangle * inv3 * (p2 + p3);
    }
    if (!(area > 2.0f * b2_epsilon)) return MSP_ERR_BAD_GEOMETRY;

    out->m_count = m;
    for (int32_t i = 0; i < m; ++i) {
        out->m_vertices[i] = vs[i];
        out->m_normals[i] = normals[i];
    }
    out->m_centroid = (1.0f / area) * c + s;
    return MSP_OK;
}

// b2ChainShape asserts that consecutive vertices are farther apart than b2_linearSlop; a loop
// also needs its closing edge (last to first) to be non-degenerate.
int32_t check_chain(const float *points, int32_t count, bool loop) {
    if (count < (loop ? 3 : 2)) return MSP_ERR_BAD_GEOMETRY;
    const float min2 = b2_linearSlop * b2_linearSlop;
    for (int32_t i = 1; i < count; ++i) {
        const b2Vec2 a(points[2 * i - 2], points[2 * i - 1]);
        const b2Vec2 b(points[2 * i], points[2 * i + 1]);
        if (!(b2DistanceSquared(a, b) > min2)) return MSP_ERR_BAD_GEOMETRY;
    }
    if (loop) {
        const b2Vec2 first(points[0], points[1]);
        const b2Vec2 last(points[2 * count - 2], points[2 * count - 1]);
        if (!(b2DistanceSquared(first, last) > min2)) return MSP_ERR_BAD_GEOMETRY;
    }
    return MSP_OK;
}

}  // namespace msp
