namespace Confiture.Core.Run;

/// <summary>How a run of several tables executes.</summary>
public sealed record RunOptions
{
    /// <summary>
    /// The default number of groups loading at once: 1 on a machine with fewer than 4 cores (the
    /// target's ingest is the bottleneck, and parallel writers did not help there), else half the
    /// cores, at most 4.
    /// </summary>
    public static int DefaultThrottleLimit => Environment.ProcessorCount < 4 ? 1 : Math.Min(4, Environment.ProcessorCount / 2);

    /// <summary>How many groups (a table, or the tables of a key cycle) load at once, each in its own target transaction and connection: 1 to 64.</summary>
    public int ThrottleLimit { get; init; } = DefaultThrottleLimit;

    /// <summary>Continues the latest unfinished run of the session over the same tables: the tables it committed are checked and skipped.</summary>
    public bool Resume { get; init; }

    internal void Validate()
    {
        if (ThrottleLimit is < 1 or > 64)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, $"ThrottleLimit {ThrottleLimit} is not from 1 to 64.", null,
                "Pass -ThrottleLimit 1 to 64, or leave it out for the default.");
        }
    }
}

/// <summary>What became of one group of a run, reported as it happens (from a worker thread).</summary>
/// <param name="Group">The group's index in the plan.</param>
/// <param name="Tables">Its source tables.</param>
/// <param name="Results">Its tables' results when it committed (or was skipped by -Resume); empty otherwise.</param>
/// <param name="Error">Why it failed, or why it did not start (a parent failed); null when it committed.</param>
public sealed record RunGroupOutcome(int Group, IReadOnlyList<string> Tables, IReadOnlyList<Migration.TableMigrationResult> Results, ConfitureException? Error);
