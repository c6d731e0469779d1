<#
.SYNOPSIS
    Quick start: move the users table from an old schema to a new one with Confiture.

.DESCRIPTION
    The source (old) database has

        users (id, full_name, email, created_at)

    and the target (new) database already has the new shape, created by your schema migrations:

        users (id, display_name, email)

    This script connects to both, lets the target read the source through postgres_fdw, moves the
    rows (full_name becomes display_name, created_at is left behind), checks the row counts on both
    servers, and removes everything it created on the target, also when a step fails.

    The target user needs USAGE on the postgres_fdw foreign-data wrapper in the target database (or
    be a superuser) and must own the target table or have INSERT on it. A DBA prepares that once:

        CREATE EXTENSION postgres_fdw;
        GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO migrator;

.PARAMETER SourceConnectionString
    The old database: "Host=old-db;Port=5432;Database=app;Username=migrator;Password=..." or
    "postgresql://migrator:...@old-db:5432/app".

.PARAMETER TargetConnectionString
    The new database, in either form.

.PARAMETER SourceHostForTarget
    The source's host as the target server sees it, when that differs from how this machine reaches
    it (containers, NAT, a private network between the servers).

.PARAMETER SourcePortForTarget
    The source's port as the target server sees it, when it differs.

.EXAMPLE
    ./quick-start.ps1 -SourceConnectionString 'postgresql://migrator@old-db/app' -TargetConnectionString 'postgresql://migrator@new-db/app'
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)]
    [string] $SourceConnectionString,

    [Parameter(Mandatory)]
    [string] $TargetConnectionString,

    [string] $SourceHostForTarget,

    [ValidateRange(1, 65535)]
    [int] $SourcePortForTarget
)

$ErrorActionPreference = 'Stop'
if (-not (Get-Module Confiture)) {
    Import-Module Confiture
}

function Show-Step {
    # Prints a step's title and what it returned (through Write-Host, so the script's output stays clean).
    param([string] $Title, $Value)
    Write-Host ''
    Write-Host "== $Title"
    if ($null -ne $Value) {
        Write-Host ($Value | Format-List | Out-String).Trim()
    }
}

# 1. Connect: each call opens a connection and checks it (a wrong password fails here).
$source = Connect-ConfitureDatabase -ConnectionString $SourceConnectionString -Name source
$target = Connect-ConfitureDatabase -ConnectionString $TargetConnectionString -Name target
Show-Step 'Source' $source
Show-Step 'Target' $target

# 2. Let the target read the source: a foreign server, a user mapping, and the source tables
#    imported as foreign tables into the schema old_schema on the target.
$address = @{}
if ($SourceHostForTarget) { $address.SourceHostForTarget = $SourceHostForTarget }
if ($SourcePortForTarget) { $address.SourcePortForTarget = $SourcePortForTarget }
$migration = Enable-ConfitureFdw -Source $source -Target $target -ForeignSchema old_schema -Table users @address
Show-Step 'Session (Enable-ConfitureFdw)' $migration

try {
    # 3. How big is the table, and which way is faster? (FDW for small tables, COPY for large ones.)
    $strategy = Get-ConfitureStrategy -Migration $migration -Table users
    Show-Step 'Strategy (Get-ConfitureStrategy)' $strategy

    # 4. Move the rows: source column = target column. created_at is not in the mapping, so it
    #    stays behind. All rows arrive in one transaction, or none.
    $mapping = [ordered]@{
        id        = 'id'
        full_name = 'display_name'
        email     = 'email'
    }
    #    The strategy object carries the table, the session and the advised strategy along the pipe.
    $result = $strategy | Invoke-ConfitureTableMigration -ColumnMapping $mapping
    Show-Step 'Migrated (Invoke-ConfitureTableMigration)' $result

    # 5. Check: the rows are counted on each server directly.
    $check = $result | Test-ConfitureMigration
    Show-Step 'Verified (Test-ConfitureMigration)' $check
    if (-not $check.Match) {
        throw "users: the source has $($check.SourceCount) rows but the target $($check.TargetCount)."
    }
}
finally {
    # 6. Remove the foreign tables, the user mapping (it holds the source password) and the server,
    #    whether the migration worked or not.
    $migration | Remove-ConfitureFdw
    Show-Step 'Removed the postgres_fdw objects from the target (Remove-ConfitureFdw)' $null
}
