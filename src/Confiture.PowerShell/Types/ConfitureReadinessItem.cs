namespace Confiture.PowerShell.Types;

/// <summary>One verdict of Test-ConfitureCutover: what was checked, on which table, and what to do when it failed.</summary>
public sealed class ConfitureReadinessItem
{
    internal ConfitureReadinessItem(string check, string? targetSchema, string? targetTable, string? sourceTable, bool passed, string detail, string? whatToDo)
    {
        Check = check;
        TargetSchema = targetSchema;
        TargetTable = targetTable;
        SourceTable = sourceTable;
        Passed = passed;
        Detail = detail;
        WhatToDo = whatToDo;
    }

    /// <summary>What was checked: Migrated, Checksum, Sequence, Index, Constraint, Statistics, Journal, StreamLag or RetainedWal.</summary>
    public string Check { get; }

    /// <summary>The target table's schema; null for an item of the whole session (the change stream).</summary>
    public string? TargetSchema { get; }

    /// <summary>The target table; null for an item of the whole session.</summary>
    public string? TargetTable { get; }

    /// <summary>The source table it was migrated from, when known.</summary>
    public string? SourceTable { get; }

    /// <summary>schema.table, or the source table's name when it never reached the target, or "(session)".</summary>
    public string Table => TargetTable is not null ? $"{TargetSchema}.{TargetTable}" : SourceTable ?? "(session)";

    /// <summary>Whether this item allows the cutover.</summary>
    public bool Passed { get; }

    /// <summary>What was found, in words.</summary>
    public string Detail { get; }

    /// <summary>What to do about a failed item; null when it passed.</summary>
    public string? WhatToDo { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Check} {Table}: {(Passed ? "passed" : "FAILED")}: {Detail}";
}
