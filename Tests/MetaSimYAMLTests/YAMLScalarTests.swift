import MetaSimYAML
import Testing

@Suite("Scalars and marks")
struct YAMLScalarTests {
    static let sample = """
        # world
        name: "Arena"
        title: 'it''s'
        plain: hello world
        literal: |
          line one
          line two
        folded: >-
          a
          b
        tagged: !include sub.yaml
        anchored: &a  value
        list:
          - 1
          - [x, {k: v}]
        ä: ö

        """

    @Test func scalarStylesValuesAndMarks() throws {
        let root = try document(Self.sample)
        #expect(root.mark == at(2, 1))
        #expect(root.kindName == "mapping")
        #expect(root.keys == ["name", "title", "plain", "literal", "folded", "tagged", "anchored", "list", "ä"])

        let expected: [(key: String, value: String, style: YAMLScalarStyle, keyMark: YAMLMark, mark: YAMLMark)] = [
            ("name", "Arena", .doubleQuoted, at(2, 1), at(2, 7)),
            ("title", "it's", .singleQuoted, at(3, 1), at(3, 8)),
            ("plain", "hello world", .plain, at(4, 1), at(4, 8)),
            ("literal", "line one\nline two\n", .literal, at(5, 1), at(5, 10)),
            ("folded", "a b", .folded, at(8, 1), at(8, 9)),
            ("tagged", "sub.yaml", .plain, at(11, 1), at(11, 9)),
            ("anchored", "value", .plain, at(12, 1), at(12, 11)),
            ("ä", "ö", .plain, at(16, 1), at(16, 4)),
        ]
        let pairs = try #require(root.mapping)
        for item in expected {
            let pair = try #require(pairs.first { $0.key.scalar == item.key })
            #expect(pair.key.mark == item.keyMark, "key \(item.key)")
            #expect(pair.key.style == .plain)
            #expect(pair.value.kind == .scalar(item.value, item.style), "value of \(item.key)")
            #expect(pair.value.mark == item.mark, "mark of \(item.key)")
        }
    }

    @Test func nestedCollectionMarks() throws {
        let list = try #require(try document(Self.sample)["list"])
        #expect(list.mark == at(14, 3))
        let items = try #require(list.sequence)
        #expect(items.count == 2)
        #expect(items[0].mark == at(14, 5))
        #expect(items[1].mark == at(15, 5))
        let flow = try #require(items[1].sequence)
        #expect(flow[0].mark == at(15, 6))
        #expect(flow[1].mark == at(15, 9))
        #expect(flow[1]["k"]?.mark == at(15, 13))
    }

    @Test func tags() throws {
        let root = try document("""
            a: !include sub.yaml
            b: !!str 42
            c: !vec [1, 2]
            d: plain
            """)
        #expect(root["a"]?.tag == "!include")
        #expect(root["b"]?.tag == "tag:yaml.org,2002:str")
        #expect(root["c"]?.tag == "!vec")
        #expect(root["c"]?.sequence?.count == 2)
        #expect(root["d"]?.tag == nil)
    }

    @Test func nullDetection() throws {
        let root = try document("""
            empty:
            tilde: ~
            lower: null
            title: Null
            upper: NULL
            quoted: "null"
            single: ''
            word: nil
            tagged: !!str null
            explicit: !!null ~
            """)
        for key in ["empty", "tilde", "lower", "title", "upper", "explicit"] {
            #expect(root[key]?.isNull == true, "\(key) should be null")
        }
        for key in ["quoted", "single", "word", "tagged"] {
            #expect(root[key]?.isNull == false, "\(key) should not be null")
        }
        #expect(root["empty"]?.kind == .scalar("", .plain))
        #expect(root.isNull == false)
    }

    @Test func utf8Text() throws {
        let root = try document("""
            名前: "ロボット 🤖"
            emoji: 🚀🚀 launch
            escaped: "caf\\u00e9 \\U0001F600"
            """)
        #expect(root["名前"]?.scalar == "ロボット 🤖")
        #expect(root["名前"]?.mark == at(1, 5))  // columns count characters, not bytes
        #expect(root["emoji"]?.scalar == "🚀🚀 launch")
        #expect(root["escaped"]?.scalar == "café 😀")
        #expect(root["escaped"]?.mark == at(3, 10))
    }

    @Test func byteOrderMarkAndCRLF() throws {
        let root = try document("\u{FEFF}a: 1\r\nb: two\r\n")
        #expect(root["a"]?.scalar == "1")
        #expect(root["b"]?.scalar == "two")
        #expect(root["b"]?.mark == at(2, 4))
    }

    @Test func scalarDocument() throws {
        let root = try document("--- just text\n")
        #expect(root.kind == .scalar("just text", .plain))
        #expect(root.mark == at(1, 5))
    }

    @Test func convenienceAccessorsOnWrongKinds() throws {
        let root = try document("s: x\nq: [1]\n")
        let scalar = try #require(root["s"])
        #expect(scalar.sequence == nil)
        #expect(scalar.mapping == nil)
        #expect(scalar["s"] == nil)
        #expect(scalar.kindName == "scalar")
        let sequence = try #require(root["q"])
        #expect(sequence.scalar == nil)
        #expect(sequence.style == nil)
        #expect(sequence.kindName == "sequence")
        #expect(root["missing"] == nil)
        #expect(at(3, 7).description == "3:7")
    }
}
