import MetaSimYAML
import Testing

@Suite("Collections, documents, anchors and merges")
struct YAMLStructureTests {
    @Test func nestedBlockCollections() throws {
        let root = try document("""
            world:
              size: [10, 20]
              robots:
                - name: r1
                  sensors:
                    - lidar
                    - camera
                - name: r2
                  sensors: []
            """)
        let world = try #require(root["world"])
        #expect(world.keys == ["size", "robots"])
        #expect(world["size"]?.sequence?.compactMap(\.scalar) == ["10", "20"])
        let robots = try #require(world["robots"]?.sequence)
        #expect(robots.count == 2)
        #expect(robots[0]["name"]?.scalar == "r1")
        #expect(robots[0]["sensors"]?.sequence?.compactMap(\.scalar) == ["lidar", "camera"])
        #expect(robots[1]["sensors"]?.sequence?.isEmpty == true)
        #expect(robots[1].mark == at(8, 7))
    }

    @Test func flowStyle() throws {
        let root = try document("{a: [1, {b: c}, 'q'], d: {}, e: \"x\"}")
        #expect(root.keys == ["a", "d", "e"])
        let a = try #require(root["a"]?.sequence)
        #expect(a.count == 3)
        #expect(a[1]["b"]?.scalar == "c")
        #expect(a[2].kind == .scalar("q", .singleQuoted))
        #expect(root["d"]?.mapping?.isEmpty == true)
        #expect(root["e"]?.style == .doubleQuoted)
    }

    @Test func emptyStreamsAreNil() throws {
        #expect(try YAML.parse("") == nil)
        #expect(try YAML.parse("# only a comment\n\n") == nil)
        #expect(try YAML.parse("   \n") == nil)
    }

    @Test func explicitDocumentMarkers() throws {
        let root = try document("%YAML 1.1\n---\na: 1\n...\n")
        #expect(root["a"]?.scalar == "1")
        #expect(root.mark == at(3, 1))
        let bare = try document("---\n")
        #expect(bare.isNull)
    }

    @Test func singleDocumentIsRepeatable() throws {
        let parser = YAMLParser(yaml: "a: 1", file: "<string>")
        let first = try parser.singleDocument()
        let second = try parser.singleDocument()
        #expect(first != nil)
        #expect(first == second)
    }

    @Test func anchorsAndAliases() throws {
        let root = try document("""
            base: &pos {x: 1, y: 2}
            copy: *pos
            name: &n robot
            names: [*n, *n]
            """)
        let base = try #require(root["base"])
        let copy = try #require(root["copy"])
        #expect(copy.kind == base.kind)
        #expect(copy.mark == at(2, 7))  // the alias use site
        #expect(base.mark == at(1, 7))
        let names = try #require(root["names"]?.sequence)
        #expect(names.map(\.scalar) == ["robot", "robot"])
        #expect(names.map(\.mark) == [at(4, 9), at(4, 13)])
    }

    @Test func anchorRedefinitionUsesLatest() throws {
        let root = try document("a: &x 1\nb: &x 2\nc: *x\n")
        #expect(root["c"]?.scalar == "2")
    }

    @Test func singleMergeKeyOwnKeysWin() throws {
        let root = try document("""
            defaults: &defaults
              mass: 1.0
              color: red
              friction: 0.5
            box:
              color: blue
              <<: *defaults
              mass: 2.0
            """)
        let box = try #require(root["box"])
        #expect(box.keys == ["color", "friction", "mass"])
        #expect(box["color"]?.scalar == "blue")
        #expect(box["mass"]?.scalar == "2.0")
        #expect(box["friction"]?.scalar == "0.5")
        #expect(box["friction"]?.mark == at(4, 13))  // merged values keep their own marks
        #expect(box["<<"] == nil)
    }

    @Test func mergeKeyListEarlierSourcesWin() throws {
        let root = try document("""
            a: &a {x: a, y: a}
            b: &b {y: b, z: b}
            c:
              <<: [*a, *b, {w: inline}]
              z: own
            """)
        let c = try #require(root["c"])
        #expect(c.keys == ["x", "y", "w", "z"])
        #expect(c["x"]?.scalar == "a")
        #expect(c["y"]?.scalar == "a")
        #expect(c["z"]?.scalar == "own")
        #expect(c["w"]?.scalar == "inline")
    }

    @Test func mergeOfInlineMappingAndQuotedKeyIsLiteral() throws {
        let root = try document("""
            m:
              <<: {p: 1}
              "<<": literal
            """)
        let m = try #require(root["m"])
        #expect(m["p"]?.scalar == "1")
        #expect(m["<<"]?.scalar == "literal")
        #expect(m.keys == ["p", "<<"])
    }
}
