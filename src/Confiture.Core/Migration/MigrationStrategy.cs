namespace Confiture.Core.Migration;

/// <summary>How a table's rows travel from source to target.</summary>
public enum MigrationStrategy
{
    /// <summary><c>INSERT ... SELECT</c> through the foreign tables, run entirely on the target server.</summary>
    Fdw,

    /// <summary>A COPY stream out of the source connection straight into the target connection.</summary>
    Copy,
}
