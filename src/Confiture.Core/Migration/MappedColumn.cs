using Confiture.Core.Sql;

namespace Confiture.Core.Migration;

/// <summary>How a source column's values become the target column's: decided once, used by every path.</summary>
internal enum ConversionKind
{
    /// <summary>The same values on the wire: passed through untouched; the target applies its own length or precision.</summary>
    None,

    /// <summary>A cast to the target's built-in base type, without its length or precision, which the target then applies by assignment.</summary>
    Cast,

    /// <summary>The source value's text, read by the target type's own input (a type only the target has: an enum, a domain over it, an extension type).</summary>
    TargetInput,
}

/// <summary>
/// A checked pair of columns and the one conversion between them. Every path reads the source
/// through it: Copy and the source side of a digest evaluate <see cref="SourceSideExpression"/> on
/// the source, Fdw evaluates <see cref="TargetSideExpression"/> on the target over the foreign
/// table, both under the same <see cref="ConversionSettings"/>; so Fdw, Copy, digests and Sync agree
/// value for value. No expression carries the target's type modifier: an explicit cast to
/// varchar(5) would cut a longer value silently, where the target's assignment refuses it.
/// </summary>
internal sealed record MappedColumn(TableColumn Source, TableColumn Target)
{
    public ColumnPair Pair => new(Source.Name, Target.Name);

    public ConversionKind Conversion => Source.Shape.Wire == Target.Shape.Wire
        ? ConversionKind.None
        : Target.Shape.BaseCastName is not null ? ConversionKind.Cast : ConversionKind.TargetInput;

    /// <summary>The source column as the source server reads it for a COPY or a digest.</summary>
    public string SourceSideExpression => Conversion switch
    {
        ConversionKind.None => SqlText.Identifier(Source.Name),
        ConversionKind.Cast => $"{SqlText.Identifier(Source.Name)}::{Target.Shape.BaseCastName}",
        _ => $"{SqlText.Identifier(Source.Name)}::text",
    };

    /// <summary>
    /// The foreign table's column as the target server reads it for an INSERT ... SELECT. The foreign
    /// column holds the source's values (the plan checks that its type has the source's shape).
    /// </summary>
    public string TargetSideExpression => Conversion switch
    {
        // Two enums hold the same labels but have no cast between them: through their text.
        ConversionKind.None when Target.Shape.IsEnum => $"{SqlText.Identifier(Source.Name)}::text::{Target.Shape.BaseQualifiedName}",
        ConversionKind.None => SqlText.Identifier(Source.Name),
        ConversionKind.Cast => $"{SqlText.Identifier(Source.Name)}::{Target.Shape.BaseCastName}",
        _ => $"{SqlText.Identifier(Source.Name)}::text::{Target.Shape.BaseQualifiedName}",
    };

    /// <summary>The source side of a digest: the converted value, in the form both sides print alike.</summary>
    public string SourceDigestExpression => DigestForm(SourceSideExpression);

    /// <summary>The target side of a digest.</summary>
    public string TargetDigestExpression => DigestForm(SqlText.Identifier(Target.Name));

    /// <summary>
    /// Values equal as values can print differently once the target's type modifier applies: char(n)
    /// pads with spaces, numeric(p,s) with zeros. Both sides print them without, so only a real
    /// difference changes the hash; no type modifier is applied, so a cut value never hashes equal.
    /// </summary>
    private string DigestForm(string expression) => Target.Shape.BaseOid switch
    {
        Bpchar => $"({expression})::text",
        Numeric => $"CASE WHEN ({expression})::text LIKE '%.%' THEN rtrim(rtrim(({expression})::text, '0'), '.') ELSE ({expression})::text END",
        _ => expression,
    };

    private const uint Bpchar = 1042;
    private const uint Numeric = 1700;

    /// <summary>
    /// Whether the column must travel as text: OIDs in binary, or a target-only type whose binary
    /// input is not its text (an enum's is; an extension type's generally is not).
    /// </summary>
    public bool NeedsText => Source.NeedsTextCopy || Target.NeedsTextCopy || (Conversion == ConversionKind.TargetInput && !Target.Shape.IsEnum);

    /// <summary>How the value is converted, for -WhatIf and the verification's column list.</summary>
    public string Describe() => Conversion switch
    {
        ConversionKind.None => Source.TypeName == Target.TypeName ? Source.TypeName : $"{Source.TypeName} -> {Target.TypeName} (same values)",
        ConversionKind.Cast => $"{Source.TypeName} -> {Target.TypeName} (cast to {Target.Shape.BaseCastName})",
        _ => $"{Source.TypeName} -> {Target.TypeName} (read by the target's {Target.TypeName} input)",
    };
}
