# How the shop's old schema maps onto the new one: only the differences; every other column of
# every table moves to the target column of its name.
@{
    staff    = @{ Table = 'employee'; Exclude = 'picture' }
    customer = @{ Exclude = 'legacy_points'; Default = 'updated_at' }
    film     = @{ Rename = @{ description = 'synopsis' } }
    rental   = @{ Rename = @{ return_date = 'returned_at' } }
}
