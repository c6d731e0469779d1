<#
    The default views of Confiture.Format.ps1xml are in use: each output type shows its chosen
    columns in a table, and every property is one Format-List * away.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Native.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Get-Header([Parameter(ValueFromPipeline)] $InputObject) {
        begin { $all = @() }
        process { $all += $InputObject }
        end {
            # The first non-empty line of the table is its header.
            $text = $all | Format-Table | Out-String -Width 300
            (($text -split "`r?`n") | Where-Object { $_.Trim() } | Select-Object -First 1) -split '\s+' | Where-Object { $_ }
        }
    }

    $savedRendering = $PSStyle.OutputRendering
    $PSStyle.OutputRendering = 'PlainText'
    $pair = New-NativeFixture
    $fdw = $pair.FdwParameters
    $migration = Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -Confirm:$false
    $strategies = @($migration | Get-ConfitureStrategy)
    $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable orders -Confirm:$false
    $renamed = Invoke-ConfitureTableMigration -Migration $migration -SourceTable 'Order Lines' -Confirm:$false
    $verification = $result | Test-ConfitureMigration
    # A name as long as PostgreSQL allows (63 bytes), as real applications have.
    $longName = 'customer_subscription_invoice_line_adjustments_history_archive_'
    foreach ($side in 'Source', 'Target') {
        Invoke-TestSql -Side $side -Database $pair.Database -Sql "CREATE TABLE $longName (id int PRIMARY KEY, v text); ALTER TABLE $longName OWNER TO $($pair.MigratorUser)" | Out-Null
    }
    Invoke-TestSql -Side Source -Database $pair.Database -Sql "INSERT INTO $longName SELECT g, 'v' || g FROM generate_series(1, 1234) g; GRANT SELECT ON $longName TO PUBLIC" | Out-Null
    # Setup again imports the new table (the first session object keeps its four for its own test).
    $again = Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -Confirm:$false
    $long = Invoke-ConfitureTableMigration -Migration $again -SourceTable $longName -Strategy Copy -Confirm:$false
    $checked = @($long, $result | Test-ConfitureMigration -Checksum)
    # The application writes on: one row changed, one new, one gone, then a sync catches up.
    Invoke-TestSql -Side Source -Database $pair.Database -Sql "UPDATE $longName SET v = 'changed' WHERE id = 1; INSERT INTO $longName VALUES (5000, 'new'); DELETE FROM $longName WHERE id = 2" | Out-Null
    $synced = $long | Invoke-ConfitureTableMigration -Sync -Confirm:$false
    # A target row changed by hand: the digests differ.
    Invoke-TestSql -Side Target -Database $pair.Database -Sql 'UPDATE orders SET note = ''tampered'' WHERE id = 7' | Out-Null
    $tampered = $result | Test-ConfitureMigration -Checksum -WarningAction SilentlyContinue

    function Get-Rendered([Parameter(ValueFromPipeline)] $InputObject, [int] $Width) {
        begin { $all = @() }
        process { $all += $InputObject }
        end { @(($all | Format-Table | Out-String -Width $Width) -split "`r?`n" | Where-Object { $_.Trim() }) }
    }
}

AfterAll {
    if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false -ErrorAction Continue }
    if ($pair) { Remove-TestDatabasePair $pair }
    $PSStyle.OutputRendering = $savedRendering
}

Describe 'Confiture.Format.ps1xml' {
    It 'is loaded with the module' {
        (Get-Module Confiture).ExportedFormatFiles | Split-Path -Leaf | Should -Contain 'Confiture.Format.ps1xml'
        foreach ($type in 'ConfitureConnection', 'ConfitureMigration', 'ConfitureStrategy', 'ConfitureTableMigrationResult', 'ConfitureTableMigrationResult#Sync', 'ConfitureVerification', 'ConfitureCutoverReadiness', 'ConfitureReadinessItem') {
            Get-FormatData -TypeName "Confiture.PowerShell.Types.$type" | Should -Not -BeNullOrEmpty -Because "$type needs a view"
        }
    }

    It 'shows a connection as Name Host Port Database User ServerVersion, never the password' {
        $pair.Source | Get-Header | Should -Be @('Name', 'Host', 'Port', 'Database', 'User', 'ServerVersion')
        $text = $pair.Source, $pair.Target | Format-Table | Out-String
        $text | Should -Match 'source'
        $text | Should -Not -Match ([regex]::Escape($pair.MigratorPassword))
        $pair.Source | Format-List * | Out-String | Should -Not -Match ([regex]::Escape($pair.MigratorPassword))
    }

    It 'shows a session as Source Target ServerName SourceSchema ForeignSchema Tables' {
        $migration | Get-Header | Should -Be @('Source', 'Target', 'ServerName', 'SourceSchema', 'ForeignSchema', 'Tables')
        $migration | Format-Table | Out-String | Should -Match 'source\s+target\s+confiture_source_server\s+public\s+old_schema\s+4'
    }

    It 'shows a strategy as Table Strategy RowCount EstimatedSeconds' {
        $strategies | Get-Header | Should -Be @('Table', 'Strategy', 'RowCount', 'EstimatedSeconds')
        $strategies | Format-Table | Out-String | Should -Match 'Order Lines\s+Fdw\s+40\s'
    }

    It 'shows a migration result as Strategy Rows Elapsed Rows/s Table' {
        $result | Get-Header | Should -Be @('Strategy', 'Rows', 'Elapsed', 'Rows/s', 'Table')
        $result, $renamed | Format-Table | Out-String | Should -Match 'Fdw\s+60\s+\d\d:\d\d:\d\d\.\d{3}\s+[\d,.]+\s+orders'
    }

    It 'keeps every figure of a load on screen at <Width> columns, a long name cut with an ellipsis' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
        $lines = $long, $result | Get-Rendered -Width $Width
        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual $Width }
        $lines[0] | Should -Match '^Strategy\s+Rows\s+Elapsed\s+Rows/s\s+Table$'
        $row = $lines | Where-Object { $_ -match '^Copy\s' }
        $row | Should -Match '^Copy\s+1,234\s+\d\d:\d\d:\d\d\.\d{3}\s+[\d,]+\s+customer_subscription'
        if ($Width -eq 80) { $row | Should -Match '…$' } else { $row | Should -Match "$longName$" }
    }

    It 'shows a sync as Mode Inserted Updated Deleted Ranges Elapsed Table at <Width> columns, with no load rate' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
        $synced.Mode | Should -Be 'Sync'
        $lines = $synced | Get-Rendered -Width $Width
        $lines[0] | Should -Match '^Mode\s+Inserted\s+Updated\s+Deleted\s+Ranges\s+Elapsed\s+Table$'
        $lines[2] | Should -Match '^Sync\s+1\s+1\s+1\s+[1-9][\d,]*\s+\d\d:\d\d:\d\d\.\d{3}\s+customer_subscription'
        ($lines -join "`n") | Should -Not -Match 'Rows/s|Copy|Fdw'
        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual $Width }
    }

    It 'shows a verification as Match Checksum SourceCount TargetCount Digest Table' {
        $verification | Get-Header | Should -Be @('Match', 'Checksum', 'SourceCount', 'TargetCount', 'Digest', 'Table')
        $verification | Format-Table | Out-String | Should -Match 'True\s+60\s+60\s+orders'
    }

    It 'keeps the verdict, the counts and a short digest on screen at <Width> columns' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
        $lines = $checked | Get-Rendered -Width $Width
        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual $Width }
        $lines[0] | Should -Match '^Match\s+Checksum\s+SourceCount\s+TargetCount\s+Digest\s+Table$'
        $digest = $checked[0].SourceChecksumHex.Substring(0, 12)
        $lines | Where-Object { $_ -match "^True\s+True\s+1,234\s+1,234\s+$digest\s+customer_subscription" } | Should -Not -BeNullOrEmpty
        ($lines | Where-Object { $_ -match '^True\s+True\s+1,234' }) | Should -Match $(if ($Width -eq 80) { '…$' } else { "$longName$" })
        $lines | Where-Object { $_ -match '^True\s+True\s+60\s+60\s+-?[0-9a-f]{11,12}\s+orders$' } | Should -Not -BeNullOrEmpty
        # The 128-bit decimal never shows in the table; it wrapped over two lines before.
        ($lines -join "`n") | Should -Not -Match '\d{20}'
    }

    It 'shows both digests'' starts when they differ, and Match False first' {
        $line = ($tampered | Get-Rendered -Width 80)[2]
        $line | Should -Match ('^False\s+False\s+60\s+60\s+{0}/{1}\s+orders$' -f $tampered.SourceChecksumHex.Substring(0, 6), $tampered.TargetChecksumHex.Substring(0, 6))
    }

    It 'shows each digest whole in Format-List, in hexadecimal beside the decimal' {
        $list = $checked[0] | Format-List * | Out-String -Width 80
        $value = [System.Numerics.BigInteger]::Parse($checked[0].SourceChecksum)
        $hex = $(if ($value.Sign -lt 0) { '-' } else { '' }) + [System.Numerics.BigInteger]::Abs($value).ToString('x').TrimStart('0')
        $checked[0].SourceChecksumHex | Should -BeExactly $hex
        $list | Should -Match "(?m)^SourceChecksumHex\s+:\s+$hex$"
        $list | Should -Match "(?m)^SourceChecksum\s+:\s+$($checked[0].SourceChecksum)$"
    }

    It 'shows both names of a table verified under another name' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "CREATE TABLE archive.orders_2020 (id int); INSERT INTO archive.orders_2020 SELECT generate_series(1, 60); ALTER TABLE archive.orders_2020 OWNER TO $($pair.MigratorUser)" | Out-Null
        Test-ConfitureMigration -Migration $migration -Table orders -TargetTable orders_2020 -TargetSchema archive |
            Format-Table | Out-String | Should -Match 'True\s+60\s+60\s+orders -> orders_2020'
    }

    It 'keeps every other property one Format-List * away' {
        $list = $result | Format-List * | Out-String
        foreach ($property in 'SourceSchema', 'TargetSchema', 'RowsMigrated', 'RowsPerSecond', 'ColumnMapping', 'Migration') {
            $list | Should -Match "(?m)^$property\s+:"
        }
        $strategies[0] | Format-List * | Out-String | Should -Match '(?m)^IsExact\s+:'
        $verification | Format-List * | Out-String | Should -Match '(?m)^Difference\s+:\s+0'
        $migration | Format-List * | Out-String | Should -Match '(?m)^FetchSize\s+:\s+10000'
    }
}
