/// A numeric field of a world type. Each type lists its fields (`ScalarFields`) beside its
/// declaration in WorldDefinition.swift, in the order they are resolved; `WorldProgram`
/// resolves them all for a task. `WorldResolutionTests` fails on a field that is not listed.
enum ScalarField<Root> {
    case one(WritableKeyPath<Root, Scalar>)
    case optional(WritableKeyPath<Root, Scalar?>)
    case list(WritableKeyPath<Root, [Scalar]>)
    case optionalList(WritableKeyPath<Root, [Scalar]?>)
    /// By name (a vehicle's parameters).
    case named(WritableKeyPath<Root, [String: Scalar]>)
}

/// A world type with numeric fields to resolve for a task.
protocol ScalarFields {
    static var scalarFields: [ScalarField<Self>] { get }
}

extension ScalarFields {
    /// A copy with every listed field mapped through `transform` (absent optionals stay absent).
    func mappingScalars<E: Error>(_ transform: (Scalar) throws(E) -> Scalar) throws(E) -> Self {
        var out = self
        for field in Self.scalarFields {
            switch field {
            case .one(let key):
                out[keyPath: key] = try transform(self[keyPath: key])
            case .optional(let key):
                if let x = self[keyPath: key] { out[keyPath: key] = try transform(x) }
            case .list(let key):
                out[keyPath: key] = try Self.map(self[keyPath: key], transform)
            case .optionalList(let key):
                if let x = self[keyPath: key] { out[keyPath: key] = try Self.map(x, transform) }
            case .named(let key):
                var named: [String: Scalar] = [:]
                for (name, x) in self[keyPath: key] { named[name] = try transform(x) }
                out[keyPath: key] = named
            }
        }
        return out
    }

    private static func map<E: Error>(_ list: [Scalar], _ transform: (Scalar) throws(E) -> Scalar) throws(E) -> [Scalar] {
        var out: [Scalar] = []
        out.reserveCapacity(list.count)
        for x in list { out.append(try transform(x)) }
        return out
    }
}
