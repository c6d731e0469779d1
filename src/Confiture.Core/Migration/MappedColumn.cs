using Confiture.Core.Sql;

namespace Confiture.Core.Migration;

/// <summary>A checked pair of columns and the expressions that read the source so the target accepts it.</summary>
internal sealed record MappedColumn(TableColumn Source, TableColumn Target)
{
    public ColumnPair Pair => new(Source.Name, Target.Name);

    /// <summary>
    /// The source column as read by the source server for a COPY. Same type: untouched, so bytes pass
    /// through. A built-in target type: an explicit cast the source can run. An enum: its label as
    /// text, which is exactly an enum's wire format. Anything else: a cast by the target type's name.
    /// </summary>
    public string SourceSideExpression => Source.SameTypeAs(Target)
        ? SqlText.Identifier(Source.Name)
        : Target.IsEnum && !Target.IsBuiltInType
            ? $"{SqlText.Identifier(Source.Name)}::text"
            : $"{SqlText.Identifier(Source.Name)}::{Target.TypeName}";

    /// <summary>
    /// The foreign table's column as read by the target server for an INSERT ... SELECT; an explicit
    /// cast, because INSERT alone applies only assignment casts (no text to enum, for one).
    /// </summary>
    public string TargetSideExpression => Source.SameTypeAs(Target)
        ? SqlText.Identifier(Source.Name)
        : $"{SqlText.Identifier(Source.Name)}::{Target.TypeName}";
}
