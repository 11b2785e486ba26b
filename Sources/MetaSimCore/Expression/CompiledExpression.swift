/// One instruction of the expression stack machine.
///
/// The top of the stack is kept in a local ("accumulator") and the rest in a small buffer; "push v"
/// spills the accumulator to the buffer and sets it to v. Besides the general forms, operators whose
/// right operand is a constant or a variable fold that operand into the instruction, and the common
/// arithmetic operators have their own cases so that they cost one dispatch instead of two.
enum ExprInstruction: Sendable, Equatable {
    /// Push a constant.
    case constant(Double)
    /// Push `slots[index]`.
    case load(Int)
    /// top = op(top)
    case unary(ExprUnaryOp)
    /// top = function(top), for one-argument functions.
    case call1(ExprFunction)
    /// top = top * top  (`x ^ 2`, same result as `ExprMath.power(x, 2)`)
    case square
    /// Pop b; top = top op b.
    case binary(ExprBinaryOp)
    /// top = top op constant
    case binaryConstant(ExprBinaryOp, Double)
    /// top = top op slots[index]
    case binaryLoad(ExprBinaryOp, Int)
    /// top = constant op top
    case constantBinary(ExprBinaryOp, Double)
    /// Pop `count` arguments (first argument deepest) and push the function's result.
    case call(ExprFunction, Int)
    /// Pop otherwise, then, condition; push condition != 0 ? then : otherwise.
    case select
    // Specialised `.binary`, `.binaryConstant` and `.binaryLoad` for + - * /.
    case add, subtract, multiply, divide
    case addConstant(Double), subtractConstant(Double), multiplyConstant(Double), divideConstant(Double)
    case addLoad(Int), subtractLoad(Int), multiplyLoad(Int), divideLoad(Int)

    static func make(_ op: ExprBinaryOp) -> ExprInstruction {
        switch op {
        case .add: .add
        case .subtract: .subtract
        case .multiply: .multiply
        case .divide: .divide
        default: .binary(op)
        }
    }

    static func make(_ op: ExprBinaryOp, constant value: Double) -> ExprInstruction {
        switch op {
        case .add: .addConstant(value)
        case .subtract: .subtractConstant(value)
        case .multiply: .multiplyConstant(value)
        case .divide: .divideConstant(value)
        default: .binaryConstant(op, value)
        }
    }

    static func make(_ op: ExprBinaryOp, load index: Int) -> ExprInstruction {
        switch op {
        case .add: .addLoad(index)
        case .subtract: .subtractLoad(index)
        case .multiply: .multiplyLoad(index)
        case .divide: .divideLoad(index)
        default: .binaryLoad(op, index)
        }
    }
}

/// An expression compiled for a fixed slot layout. Evaluation does not allocate, takes no locks and
/// may run concurrently on any number of threads.
public struct CompiledExpression: Sendable {
    let instructions: [ExprInstruction]
    /// The largest number of values on the evaluation stack at once.
    public let maxStackDepth: Int
    /// One more than the largest slot index read (0 if no slot is read): `evaluate` reads
    /// `slots[0 ..< requiredSlotCount]` at most.
    public let requiredSlotCount: Int

    init(root: ExprNode, slots: [Int]) {
        var code: [ExprInstruction] = []
        var depth = 0
        var maxDepth = 0
        func append(_ instruction: ExprInstruction, _ delta: Int) {
            code.append(instruction)
            depth += delta
            maxDepth = Swift.max(maxDepth, depth)
        }
        func emit(_ node: ExprNode) {
            switch node {
            case .constant(let value):
                append(.constant(value), 1)
            case .variable(let index):
                append(.load(slots[index]), 1)
            case .unary(let op, let operand):
                emit(operand)
                append(.unary(op), 0)
            case .binary(.power, let lhs, .constant(2)):
                emit(lhs)
                append(.square, 0)
            case .binary(let op, let lhs, .constant(let value)):
                emit(lhs)
                append(.make(op, constant: value), 0)
            case .binary(let op, let lhs, .variable(let index)):
                emit(lhs)
                append(.make(op, load: slots[index]), 0)
            case .binary(let op, .constant(let value), let rhs):
                emit(rhs)
                if op == .add || op == .multiply {
                    // Commutative in IEEE arithmetic (only which NaN payload survives can differ).
                    append(.make(op, constant: value), 0)
                } else {
                    append(.constantBinary(op, value), 0)
                }
            case .binary(let op, let lhs, let rhs):
                emit(lhs)
                emit(rhs)
                append(.make(op), -1)
            case .call(let function, let arguments) where arguments.count == 1:
                emit(arguments[0])
                append(.call1(function), 0)
            case .call(let function, let arguments):
                for argument in arguments { emit(argument) }
                append(.call(function, arguments.count), 1 - arguments.count)
            case .select(let condition, let then, let otherwise):
                emit(condition)
                emit(then)
                emit(otherwise)
                append(.select, -2)
            }
        }
        emit(root)
        precondition(depth == 1, "expression compiler left \(depth) values on the stack")
        instructions = code
        maxStackDepth = maxDepth
        requiredSlotCount = (slots.max() ?? -1) + 1
    }

    /// A compiled constant.
    public init(constant value: Double) {
        instructions = [.constant(value)]
        maxStackDepth = 1
        requiredSlotCount = 0
    }

    /// Evaluates the expression reading variables from `slots` (hot path: no allocation, no locks).
    /// `slots` must hold at least `requiredSlotCount` values.
    public func evaluate(_ slots: UnsafePointer<Double>) -> Double {
        instructions.withUnsafeBufferPointer { code in
            // Room for a dummy bottom entry (the initial accumulator), the spilled values, and the
            // accumulator when a call stores its arguments contiguously. Stack memory for any
            // realistic depth (the standard library falls back to the heap only above ~1 KiB).
            withUnsafeTemporaryAllocation(of: Double.self, capacity: maxStackDepth + 1) { buffer in
                Self.run(code, buffer.baseAddress!, slots)
            }
        }
    }

    @inline(__always)
    private static func run(
        _ code: UnsafeBufferPointer<ExprInstruction>, _ stack: UnsafeMutablePointer<Double>,
        _ slots: UnsafePointer<Double>
    ) -> Double {
        var sp = 0  // number of entries in `stack`
        var top = 0.0
        for instruction in code {
            switch instruction {
            case .constant(let value):
                stack[sp] = top
                sp &+= 1
                top = value
            case .load(let index):
                stack[sp] = top
                sp &+= 1
                top = slots[index]
            case .unary(let op):
                top = op.apply(top)
            case .call1(let function):
                top = function.apply1(top)
            case .square:
                top = top * top
            case .binary(let op):
                sp &-= 1
                top = op.apply(stack[sp], top)
            case .binaryConstant(let op, let value):
                top = op.apply(top, value)
            case .binaryLoad(let op, let index):
                top = op.apply(top, slots[index])
            case .constantBinary(let op, let value):
                top = op.apply(value, top)
            case .call(let function, let count):
                stack[sp] = top
                sp &-= count &- 1
                top = function.apply(stack + sp, count: count)
            case .select:
                sp &-= 2
                top = stack[sp] != 0 ? stack[sp &+ 1] : top
            case .add:
                sp &-= 1
                top = stack[sp] + top
            case .subtract:
                sp &-= 1
                top = stack[sp] - top
            case .multiply:
                sp &-= 1
                top = stack[sp] * top
            case .divide:
                sp &-= 1
                top = stack[sp] / top
            case .addConstant(let value): top = top + value
            case .subtractConstant(let value): top = top - value
            case .multiplyConstant(let value): top = top * value
            case .divideConstant(let value): top = top / value
            case .addLoad(let index): top = top + slots[index]
            case .subtractLoad(let index): top = top - slots[index]
            case .multiplyLoad(let index): top = top * slots[index]
            case .divideLoad(let index): top = top / slots[index]
            }
        }
        return top
    }
}
