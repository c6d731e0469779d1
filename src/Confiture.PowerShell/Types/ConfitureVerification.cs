using System.Globalization;
using System.Numerics;

namespace Confiture.PowerShell.Types;

/// <summary>Row counts of one table on both sides.</summary>
public sealed class ConfitureVerification
{
    internal ConfitureVerification(string sourceSchema, string sourceTable, string targetSchema, string targetTable, long sourceCount, long targetCount, ConfitureMigration migration)
        : this(sourceSchema, sourceTable, targetSchema, targetTable, sourceCount, targetCount, null, null, [], migration)
    {
    }

    internal ConfitureVerification(
        string sourceSchema, string sourceTable, string targetSchema, string targetTable, long sourceCount, long targetCount,
        string? sourceChecksum, string? targetChecksum, ConfitureRowDifference[] differences, ConfitureMigration migration)
    {
        SourceChecksum = sourceChecksum;
        TargetChecksum = targetChecksum;
        Differences = differences;
        SourceSchema = sourceSchema;
        SourceTable = sourceTable;
        TargetSchema = targetSchema;
        TargetTable = targetTable;
        SourceCount = sourceCount;
        TargetCount = targetCount;
        Migration = migration;
    }

    /// <summary>The source table.</summary>
    public string SourceTable { get; }

    /// <summary>The target table.</summary>
    public string TargetTable { get; }

    /// <summary>The source schema.</summary>
    public string SourceSchema { get; }

    /// <summary>The target schema.</summary>
    public string TargetSchema { get; }

    /// <summary>Rows on the source.</summary>
    public long SourceCount { get; }

    /// <summary>Rows on the target.</summary>
    public long TargetCount { get; }

    /// <summary>The source's digest of every row's mapped values (with -Checksum).</summary>
    public string? SourceChecksum { get; }

    /// <summary>The target's digest of every row's mapped values (with -Checksum).</summary>
    public string? TargetChecksum { get; }

    /// <summary>The source's digest in hexadecimal (the same number as <see cref="SourceChecksum"/>, shorter to read); null without -Checksum.</summary>
    public string? SourceChecksumHex => Hex(SourceChecksum);

    /// <summary>The target's digest in hexadecimal; null without -Checksum.</summary>
    public string? TargetChecksumHex => Hex(TargetChecksum);

    /// <summary>Whether the digests agree; null without -Checksum.</summary>
    public bool? ChecksumMatch => SourceChecksum is null ? null : SourceChecksum == TargetChecksum;

    /// <summary>The rows found to differ, by key (with -Detailed).</summary>
    public ConfitureRowDifference[] Differences { get; }

    /// <summary>Whether the counts agree, the digests too when computed, and the checksum covers every column the migration wrote.</summary>
    public bool Match { get; internal init; }

    /// <summary>Why Match is false, in words (null when it is true).</summary>
    public string? MismatchReason { get; internal init; }

    /// <summary>What was compared: row counts only, or counts and a checksum of which columns, with the map's origin.</summary>
    public string Coverage { get; internal init; } = "row counts only";

    /// <summary>The columns the checksum covers, as source -> target (empty for a count-only check).</summary>
    public string[] ComparedColumns { get; internal init; } = [];

    /// <summary>Every column of either table the checksum leaves out, each with why ("took its default", "excluded").</summary>
    public string[] NotCompared { get; internal init; } = [];

    /// <summary>Target minus source: negative means rows are missing on the target.</summary>
    public long Difference => TargetCount - SourceCount;

    /// <summary>The session.</summary>
    public ConfitureMigration Migration { get; }

    /// <summary>
    /// A digest is a sum of 64-bit row hashes, printed by PostgreSQL as a decimal numeric of up to
    /// 40 digits; its hexadecimal form (a sign, then no leading zeros) is what the views shorten.
    /// </summary>
    internal static string? Hex(string? digest) =>
        digest is not null && BigInteger.TryParse(digest, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? (value.Sign < 0 ? "-" : "") + BigInteger.Abs(value).ToString("x", CultureInfo.InvariantCulture).TrimStart('0').PadLeft(1, '0')
            : digest;

    /// <inheritdoc />
    public override string ToString() => $"{SourceTable}: {SourceCount} -> {TargetCount} ({(Match ? "match" : "MISMATCH")})";
}
