using Confiture.Core.Migration;
using Confiture.Core.Sql;

namespace Confiture.Core.Run;

/// <summary>One table of a run, and how it moves.</summary>
/// <param name="Request">What to migrate.</param>
/// <param name="Strategy">Fdw or Copy.</param>
public sealed record RunTable(TableMigrationRequest Request, MigrationStrategy Strategy);

/// <summary>
/// A run's whole plan, made once before anything is written: the tables in key order (groups of
/// tables that reference each other in a cycle load together), each table's statements, and
/// whether the run empties its tables together first. <c>-WhatIf</c> shows it; the run executes it.
/// </summary>
public sealed class RunPlan
{
    internal RunPlan(IReadOnlyList<RunGroup> groups, IReadOnlyList<string> truncateTogether, string foreignSchema)
    {
        Groups = groups;
        TruncateTogether = truncateTogether;
        ForeignSchema = foreignSchema;
    }

    internal IReadOnlyList<RunGroup> Groups { get; }

    /// <summary>The tables that could not be planned, with why: they are not part of the run.</summary>
    public IReadOnlyList<(string Table, ConfitureException Error)> Failures { get; init; } = [];

    /// <summary>The run's target tables, emptied together in one statement before the first load (several tables with -Truncate).</summary>
    public IReadOnlyList<string> TruncateTogether { get; }

    internal string ForeignSchema { get; }

    /// <summary>The foreign keys among the run's tables that a -DeferIndexes run drops when it starts and adds back once its tables have loaded.</summary>
    internal IReadOnlyList<ForeignKeyGraph.Key> DeferredKeys { get; init; } = [];

    /// <summary>The names of those keys, for messages and -WhatIf: "name" of table.</summary>
    public IReadOnlyList<string> DeferredKeyNames => DeferredKeys.Select(k => $"\"{k.Definition.Name}\" of {k.FromName}").ToList();

    /// <summary>The source tables in load order, one list per group (a group of several is a key cycle).</summary>
    public IReadOnlyList<IReadOnlyList<string>> Order => Groups.Select(g => (IReadOnlyList<string>)g.Plans.Select(p => p.Request.SourceTable).ToList()).ToList();

    /// <summary>Each table's strategy, in load order.</summary>
    public IReadOnlyList<MigrationStrategy> Strategies => Groups.SelectMany(g => g.Plans).Select(p => p.Strategy).ToList();

    /// <summary>How many groups the run loads, one transaction each.</summary>
    public int GroupCount => Groups.Count;

    /// <summary>The tables of one group, for messages.</summary>
    public IReadOnlyList<string> GroupTables(int group) => Order[group];

    /// <summary>The earlier groups a group references by foreign key: when one failed, the group cannot load.</summary>
    public IReadOnlyList<int> ParentGroups(int group) => Groups[group].Parents;

    /// <summary>Every statement the run will run, in order, for -WhatIf and -Verbose.</summary>
    public IReadOnlyList<string> Describe()
    {
        var lines = new List<string>();
        if (Groups.Count > 1)
        {
            lines.Add(DeferredKeys.Count > 0
                ? "-- every table reads one exported source snapshot, in any order: the keys among them are dropped until all have loaded"
                : "-- every table reads one exported source snapshot, parents before children by the target's foreign keys");
        }

        if (DeferredKeys.Count > 0)
        {
            lines.Add("-- the foreign keys among the run's tables go first (listed in confiture.run_key) and come back once every table has loaded, NOT VALID, then validated");
            lines.AddRange(DeferredKeys.Select(k => k.Definition.Drop.Display));
        }

        if (TruncateTogether.Count > 0)
        {
            lines.Add($"TRUNCATE {string.Join(", ", TruncateTogether)} -- all of the run's tables at once, committed before the first load");
        }

        foreach (var group in Groups)
        {
            var cycle = group.Plans.Count > 1;
            if (cycle)
            {
                lines.Add($"-- one transaction for the key cycle {string.Join(" <-> ", group.Plans.Select(p => p.QualifiedTarget))}");
                lines.AddRange(group.CycleKeys.Select(k => k.Drop.Display));
            }

            foreach (var plan in group.Plans)
            {
                lines.Add($"-- {plan.QualifiedSource} -> {plan.QualifiedTarget} ({plan.Strategy})");
                lines.AddRange(plan.Describe(ForeignSchema));
            }

            if (cycle)
            {
                lines.AddRange(group.CycleKeys.Select(k => k.Add.Display));
            }
        }

        if (DeferredKeys.Count > 0)
        {
            lines.AddRange(DeferredKeys.Select(k => $"{k.Definition.Add.Display} NOT VALID"));
            lines.AddRange(DeferredKeys.Select(k => $"ALTER TABLE {k.Definition.Table} VALIDATE CONSTRAINT {SqlText.Identifier(k.Definition.Name)}"));
        }

        return lines;
    }
}

/// <summary>Tables committed in one target transaction: one alone, or the members of a key cycle.</summary>
/// <param name="Plans">The tables, in load order.</param>
/// <param name="CycleKeys">The keys among them, dropped and added back in their transaction.</param>
/// <param name="Parents">The earlier groups whose tables these reference: a failed parent means these cannot load.</param>
internal sealed record RunGroup(IReadOnlyList<MigrationPlan> Plans, IReadOnlyList<ForeignKeyDefinition> CycleKeys, IReadOnlyList<int> Parents);
