import MetaSimYAML
import Testing

/// `YAMLNode.yamlText`: the text read again is the same tree (keys, scalars, plain or not).
@Suite("YAML emitter")
struct YAMLEmitterTests {
    /// Tree equality without marks and files.
    static func same(_ a: YAMLNode, _ b: YAMLNode) -> Bool {
        switch (a.kind, b.kind) {
        case (.scalar(let x, let sx), .scalar(let y, let sy)):
            if a.isNull || b.isNull { return a.isNull && b.isNull }
            return x == y && (sx == .plain) == (sy == .plain) && a.tag == b.tag
        case (.sequence(let xs), .sequence(let ys)):
            return xs.count == ys.count && zip(xs, ys).allSatisfy { same($0, $1) }
        case (.mapping(let xs), .mapping(let ys)):
            return xs.count == ys.count && zip(xs, ys).allSatisfy { same($0.key, $1.key) && same($0.value, $1.value) }
        default:
            return false
        }
    }

    static let documents = [
        // Scalars that cannot stay plain, or must stay quoted to stay strings.
        """
        plain: a b c
        quoted_true: "true"
        plain_true: true
        empty: ""
        null_value:
        tilde: ~
        colon: "a: b"
        hash: "a #b"
        dash: "- x"
        negative: -3.5
        expression: -x * 2
        star: "*alias"
        newline: "line one\\nline two\\ttab \\\\ \\"quote\\""
        folded: >-
          several words
          on two lines
        unicode: "héllo → ∞"
        tagged: !!str 12
        """,
        // Flow-style collections, with scalars that flow style would have to quote.
        """
        list: [1, 2, [3, 4], {a: 1}]
        commas: [clip(x, 0, 1), "b", 'c']
        map: {k: v, n: [1, 2]}
        empty_list: []
        empty_map: {}
        long: [aaaaaaaaaaaa, bbbbbbbbbbbbbb, cccccccccccccccc, dddddddddddddddd, eeeeeeeeeeeeeee, ffffffffffffffff, gggg]
        """,
        // Block collections nested in lists.
        """
        entries:
          - name: a
            points: [[0, 0], [1, 0]]
            nested:
              - - 1
                - 2
              - {x: "y: z"}
          - plain
          - [a, b]
        """,
        "- 1\n- two\n",
        "just a scalar\n",
    ]

    @Test("text written from a tree reads back as the same tree", arguments: documents)
    func roundTrip(text: String) throws {
        let tree = try document(text)
        let written = tree.yamlText()
        let reread = try #require(try YAML.parse(written, file: "written.yaml"), "\(written)")
        #expect(Self.same(tree, reread), "written:\n\(written)")
        #expect(reread.yamlText() == written, "writing is stable")
    }

    @Test("a root mapping's keys come in the order asked for; nested ones keep theirs")
    func rootOrder() throws {
        let tree = try document("c: 1\nb: {z: 1, a: 2}\nx: 3\na: 4\n")
        let written = tree.yamlText(rootKeyOrder: ["a", "b", "c"])
        #expect(try document(written).keys == ["a", "b", "c", "x"])
        #expect(try document(written)["b"]?.keys == ["z", "a"])
    }
}
