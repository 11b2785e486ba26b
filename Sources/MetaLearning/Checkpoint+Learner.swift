/// What a checkpoint says through the learner that wrote it (`MetaLearners`): the daemon's
/// `list_policies` and `adapt` ask these instead of knowing the algorithms.
extension Checkpoint {
    /// The learner that wrote it (nil: an algorithm this metasim does not know).
    public var learner: (any MetaLearner)? { MetaLearners.learner(named: metadata.algorithm) }

    /// What its `hyperparameters` record of the inner and outer loops (nil when they do not decode).
    public var trainingRecord: TrainingRecord? { TrainingRecord(hyperparameters: metadata.hyperparameters) }

    /// Whether it is a meta-learned initialization still to be adapted: its learner optimized the
    /// return after the inner loop, not of its own parameters (nil: an unknown algorithm).
    public var adaptFirst: Bool? { learner?.adaptFirst(adapted: metadata.adaptedTaskSeed != nil) }

    /// The inner steps per task of its meta-training (nil: its learner's training has none, or
    /// the algorithm is unknown).
    public var trainedSteps: Int? { learner?.trainedSteps(trainingRecord) }

    /// The inner loop and learning rates it adapts with by default (its adapting learner's choice).
    public var adaptationDefaults: AdaptationDefaults { AdaptationRunner(checkpoint: self).learner.adaptationDefaults(self) }
}
