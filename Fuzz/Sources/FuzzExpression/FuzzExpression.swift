// libFuzzer target: the expression parser (MetaSimCore/Expression): parse, fold, evaluate, and
// compile to the slot program; the tree and the compiled program must agree.
// `make fuzz` builds it for libFuzzer; a plain build replays the inputs it is given (FuzzSupport).
// See docs/fuzzing.md.
import FuzzSupport
import MetaSimCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExpression(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let expression: Expression
    do { expression = try Expression(parsing: source) } catch {
        _ = error.description
        return 0
    }
    // Every variable gets a value (distinct, some awkward): 1.5, -2, 0, 1e300, ...
    let pool: [Double] = [1.5, -2, 0, 1e300, -0.25, 7, .leastNormalMagnitude / 8, 42]
    var values: [String: Double] = [:]
    for (k, name) in expression.variables.enumerated() { values[name] = pool[k % pool.count] }
    let tree: Double
    do { tree = try expression.evaluate(values) } catch { fatalError("evaluate failed with every variable given: \(error)") }
    let slotOf = Dictionary(uniqueKeysWithValues: expression.variables.enumerated().map { ($1, $0) })
    let compiled: CompiledExpression
    do { compiled = try expression.compile { slotOf[$0] } } catch { fatalError("compile failed with every variable given: \(error)") }
    var slots = expression.variables.map { values[$0]! }
    slots.append(0)
    precondition(compiled.requiredSlotCount <= expression.variables.count, "compiled program needs \(compiled.requiredSlotCount) slots")
    let fast = slots.withUnsafeBufferPointer { compiled.evaluate($0.baseAddress!) }
    if !(tree.isNaN && fast.isNaN) && tree.bitPattern != fast.bitPattern {
        fatalError("'\(source)': tree gives \(tree), compiled gives \(fast)")
    }
    return 0
}

@main enum FuzzExpression {
    static func main() { fuzzMain(fuzzExpression) }
}
